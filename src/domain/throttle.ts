/** D20: limits are counted per (tenant, app) over 30 seconds. */
export const THROTTLE_WINDOW_MS = 30_000;

/** Requests per 30 s: `reads` for GET presence and getPresencesByUserId, `all` for every request together. */
export interface ThrottleLimits {
  reads: number;
  all: number;
}

export type RequestKind = "read" | "other";

/** Tokens left and when they were counted. */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export type ThrottleState = Partial<Record<keyof ThrottleLimits, Bucket>>;

/** A read counts against both limits; anything else only against the overall one. */
const BUCKETS_OF: Record<RequestKind, (keyof ThrottleLimits)[]> = { read: ["reads", "all"], other: ["all"] };

/**
 * A token bucket holding `limit` tokens and refilled at `limit` per window. A
 * caller who never sends more than `limit` requests in any 30 s is never
 * refused (for any span t, such a caller sends at most limit * ceil(t / 30 s),
 * never more than the limit + t's refill); a flood gets at most `limit` at once
 * and `limit` per 30 s after that.
 */
function refill(bucket: Bucket | undefined, limit: number, now: number): Bucket {
  if (!bucket) return { tokens: limit, updatedAt: now };
  // A clock that steps back refills nothing (and takes nothing away).
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return { tokens: Math.min(limit, bucket.tokens + (elapsed * limit) / THROTTLE_WINDOW_MS), updatedAt: now };
}

/**
 * Takes one token from each bucket the request counts against, or none at all
 * if any of them is empty. `retryAt` is then the first instant at which every
 * one of them will hold a token again.
 */
export function admit(
  state: ThrottleState,
  kind: RequestKind,
  limits: ThrottleLimits,
  now: number,
): { state: ThrottleState; retryAt: number | null } {
  const result = admitUpTo(state, kind, limits, now, 1);
  return { state: result.state, retryAt: result.retryAt };
}

/**
 * Takes `want` tokens from every bucket the request counts against when each
 * holds that many, else just one, or none at all with the instant one will fit
 * (`retryAt`) and the budget that refused (`refusedBy`: of two empty buckets,
 * the one that refills last). A Worker takes several at once when its app sends
 * fast, and spends them without asking again (see src/http/throttle.ts); near
 * the limit everyone takes one at a time, so no grant sits on the last tokens.
 * `returned` tokens of an earlier grant of the same kind went unspent: they go
 * back first (never above the limit), as if never taken.
 */
export function admitUpTo(
  state: ThrottleState,
  kind: RequestKind,
  limits: ThrottleLimits,
  now: number,
  want: number,
  returned = 0,
): { state: ThrottleState; granted: number; retryAt: number | null; refusedBy?: keyof ThrottleLimits } {
  const next: ThrottleState = { ...state };
  let retryAt: number | null = null;
  let refusedBy: keyof ThrottleLimits | undefined;
  let plenty = true;
  const refund = Math.max(0, Math.floor(returned));
  for (const name of BUCKETS_OF[kind]) {
    const refilled = refill(state[name], limits[name], now);
    const bucket = { ...refilled, tokens: Math.min(limits[name], refilled.tokens + refund) };
    next[name] = bucket;
    plenty &&= bucket.tokens >= want;
    if (bucket.tokens < 1) {
      const wait = Math.ceil(((1 - bucket.tokens) * THROTTLE_WINDOW_MS) / limits[name]);
      if (retryAt === null || now + wait > retryAt) {
        retryAt = now + wait;
        refusedBy = name;
      }
    }
  }
  if (retryAt !== null) return { state: next, granted: 0, retryAt, refusedBy };
  const granted = plenty ? Math.max(1, Math.floor(want)) : 1;
  for (const name of BUCKETS_OF[kind]) {
    const bucket = next[name] as Bucket;
    next[name] = { ...bucket, tokens: bucket.tokens - granted };
  }
  return { state: next, granted, retryAt: null };
}
