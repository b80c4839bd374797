import { readConfig } from "../config";
import type { RequestKind } from "../domain/throttle";
import type { Env } from "../env";
import { appObjectName, appThrottleStub } from "../objects/names";
import { recordThrottle, type ThrottleBudget } from "../observability/metrics";
import { logError } from "../shared/log";
import type { Caller } from "./auth";
import { GraphError } from "./errors";

const tooManyRequests = (retryAt: number) =>
  new GraphError(429, "TooManyRequests", "Too many requests from this application. Please retry after a while.", {
    "Retry-After": String(Math.max(1, Math.ceil((retryAt - Date.now()) / 1000))),
  });

/** A refusal: when to retry (epoch ms), and the budget that refused (for the metric, D31). */
interface Refusal {
  retryAt: number;
  budget: ThrottleBudget;
}

/**
 * Refusals this isolate has seen, by (tenant, app, kind), until their retry
 * time. Buckets only refill with time, so the object would refuse these too:
 * answering them here keeps a flooding app from queueing on its object.
 */
const refusedUntil = new Map<string, Refusal>();
const MAX_REMEMBERED_REFUSALS = 10_000;

function rememberRefusal(key: string, refusal: Refusal): void {
  if (refusedUntil.size >= MAX_REMEMBERED_REFUSALS) {
    const now = Date.now();
    for (const [k, known] of refusedUntil) if (known.retryAt <= now) refusedUntil.delete(k);
    if (refusedUntil.size >= MAX_REMEMBERED_REFUSALS) refusedUntil.clear();
  }
  refusedUntil.set(key, refusal);
}

/**
 * Admissions this isolate was granted ahead and may spend without asking its
 * app's object again. An app that sends one request at a time asks for one
 * each time (exact, as before); one that sends fast asks for what it sent in
 * its last lease period, growing at most twice as many per grant, up to a
 * hundredth of its limit, so a busy app costs its object one call per grant
 * (at most one per GRANT_LEASE_MS at a steady pace) instead of one per request.
 * A grant unspent after GRANT_LEASE_MS lapses, and its rest goes back to the object
 * with this isolate's next call, as if never taken: the only slack this adds
 * is that, until then, those tokens are not anyone else's.
 */
interface Lease {
  granted: number;
  remaining: number;
  grantedAt: number;
  expiresAt: number;
}
const leases = new Map<string, Lease>();
/** Keys with a grant request in flight: concurrent requests then ask for one each, so no grant is wasted. */
const asking = new Set<string>();
// Long enough that an app sending a few requests a second fills a whole grant (a hundredth of
// its limit) before it lapses: a call to the app's object is a Durable Object round trip, and
// after the read views (D30) the only one a warm read makes. Short enough that a grant taken in
// one burst is not spent long after the bucket has refilled.
export const GRANT_LEASE_MS = 4_000;
const MAX_REMEMBERED_LEASES = 10_000;

function takeFromLease(key: string, now: number): boolean {
  const lease = leases.get(key);
  if (!lease || lease.remaining === 0 || now >= lease.expiresAt) return false;
  lease.remaining -= 1;
  return true;
}

/**
 * How many to ask for, at least one and at most `cap`: one at first; after a grant that lapsed,
 * as many as were spent of it (the app's last busy lease period, however long ago); after a
 * grant spent in time, as many as the app would send in a lease period at its pace since that
 * grant, at most twice the grant (so a pause brings it back down). Doubling alone, back to one
 * after every lapse, overshot an app sending steadily and started over after each pause: at 8
 * per second it cost a call for every 4 to 5 requests.
 */
function nextWant(key: string, now: number, cap: number): number {
  const lease = leases.get(key);
  if (!lease) return 1;
  const spent = lease.granted - lease.remaining;
  // Only a lapsed grant has some left here: one in time would have been spent from.
  if (lease.remaining > 0) return Math.max(1, Math.min(cap, spent));
  const perLease = Math.ceil((spent * GRANT_LEASE_MS) / Math.max(1, now - lease.grantedAt));
  return Math.max(1, Math.min(cap, 2 * spent, perLease));
}

/** The unspent rest of a lapsed grant, to give back with the next call (once: it is cleared here). */
function takeLapsedRest(key: string, now: number): number {
  const lease = leases.get(key);
  if (!lease || now < lease.expiresAt || lease.remaining === 0) return 0;
  const rest = lease.remaining;
  lease.remaining = 0;
  return rest;
}

function rememberLease(key: string, granted: number, now: number): void {
  if (leases.size >= MAX_REMEMBERED_LEASES) leases.clear();
  leases.set(key, { granted, remaining: granted - 1, grantedAt: now, expiresAt: now + GRANT_LEASE_MS });
}

/**
 * D20: counts one request of `kind` against the caller's (tenant, app) limits. Returns null
 * when it is admitted, or the instant (epoch ms) from which to retry. Watch sockets count
 * their frames with this too (D27); HTTP routes use `throttle`. `route` (the route pattern, or
 * WATCH_SOCKET for a frame) is for the refusal's metric (D31).
 */
export async function admit(env: Env, caller: Caller, kind: RequestKind, route: string): Promise<number | null> {
  const refusal = await decide(env, caller, kind);
  if (refusal === null) return null;
  recordThrottle(
    env,
    { tenant: caller.tenantId, app: caller.appId },
    {
      route,
      budget: refusal.budget,
      retryAfterMs: refusal.retryAt - Date.now(),
    },
  );
  return refusal.retryAt;
}

async function decide(env: Env, caller: Caller, kind: RequestKind): Promise<Refusal | null> {
  const name = appObjectName(caller.tenantId, caller.appId);
  const key = `${name}:${kind}`;
  const now = Date.now();
  const known = refusedUntil.get(key);
  if (known !== undefined) {
    if (now < known.retryAt) return known;
    refusedUntil.delete(key);
  }
  if (takeFromLease(key, now)) return null;
  const limits = readConfig(env).throttle;
  const leader = !asking.has(key);
  const want = leader
    ? nextWant(key, now, Math.max(1, Math.floor((kind === "read" ? limits.reads : limits.all) / 100)))
    : 1;
  // Computed after `want`, which reads the lapsed grant's rest to size the next one.
  const returned = leader ? takeLapsedRest(key, now) : 0;
  let refusal: Refusal | null = null;
  try {
    if (leader) asking.add(key);
    const grant = await appThrottleStub(env, caller.tenantId, caller.appId).lease(kind, limits, want, returned);
    if (grant.retryAt !== null) refusal = { retryAt: grant.retryAt, budget: grant.refusedBy ?? "all" };
    else if (leader) rememberLease(key, grant.granted, now);
  } catch (error) {
    // An object too busy to answer is being flooded by this very app.
    if ((error as { overloaded?: unknown }).overloaded === true)
      return { retryAt: Date.now() + 1000, budget: "overloaded" };
    // Otherwise fail open: the throttle protects fairness, and a broken one must not stop every request.
    logError({ object: "throttle", name }, "throttle unavailable", error);
    return null;
  } finally {
    if (leader) asking.delete(key);
  }
  if (refusal === null) return null;
  // A grant that arrived for another request meanwhile may still hold this one.
  if (takeFromLease(key, Date.now())) return null;
  rememberRefusal(key, refusal);
  return refusal;
}

/** D20: admits the caller's request or throws 429, before any user's Durable Object is touched. */
export async function throttle(env: Env, caller: Caller, kind: RequestKind, route: string): Promise<void> {
  const retryAt = await admit(env, caller, kind, route);
  if (retryAt !== null) throw tooManyRequests(retryAt);
}
