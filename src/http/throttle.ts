import type { RequestKind, ThrottleLimits } from "../domain/throttle";
import type { Env } from "../env";
import type { Caller } from "./auth";
import { positiveInteger } from "./config";
import { GraphError } from "./errors";

/** D20's numbers, per (tenant, app) and 30 s: the defaults when the bindings are unset. */
export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = { reads: 1_500, all: 10_000 };

export function throttleLimits(env: Env): ThrottleLimits {
  return {
    reads: positiveInteger(env.THROTTLE_READS_PER_30S, DEFAULT_THROTTLE_LIMITS.reads),
    all: positiveInteger(env.THROTTLE_ALL_PER_30S, DEFAULT_THROTTLE_LIMITS.all),
  };
}

const tooManyRequests = (retryAt: number) =>
  new GraphError(429, "TooManyRequests", "Too many requests from this application. Please retry after a while.", {
    "Retry-After": String(Math.max(1, Math.ceil((retryAt - Date.now()) / 1000))),
  });

/**
 * Refusals this isolate has seen, by (tenant, app, kind), until their retry
 * time. Buckets only refill with time, so the object would refuse these too:
 * answering them here keeps a flooding app from queueing on its object.
 */
const refusedUntil = new Map<string, number>();
const MAX_REMEMBERED_REFUSALS = 10_000;

function rememberRefusal(key: string, retryAt: number): void {
  if (refusedUntil.size >= MAX_REMEMBERED_REFUSALS) {
    const now = Date.now();
    for (const [k, until] of refusedUntil) if (until <= now) refusedUntil.delete(k);
    if (refusedUntil.size >= MAX_REMEMBERED_REFUSALS) refusedUntil.clear();
  }
  refusedUntil.set(key, retryAt);
}

/** D20: admits the caller's request or throws 429, before any user's Durable Object is touched. */
export async function throttle(env: Env, caller: Caller, kind: RequestKind): Promise<void> {
  const name = `${caller.tenantId}:${caller.appId}`;
  const key = `${name}:${kind}`;
  const until = refusedUntil.get(key);
  if (until !== undefined) {
    if (Date.now() < until) throw tooManyRequests(until);
    refusedUntil.delete(key);
  }
  let retryAt: number | null;
  try {
    retryAt = await env.APP_THROTTLE.getByName(name).admit(kind, throttleLimits(env));
  } catch (error) {
    // An object too busy to answer is being flooded by this very app.
    if ((error as { overloaded?: unknown }).overloaded === true) throw tooManyRequests(Date.now() + 1000);
    // Otherwise fail open: the throttle protects fairness, and a broken one must not stop every request.
    console.error(JSON.stringify({ level: "error", message: "throttle unavailable", error: String(error) }));
    return;
  }
  if (retryAt !== null) {
    rememberRefusal(key, retryAt);
    throw tooManyRequests(retryAt);
  }
}
