import { DurableObject } from "cloudflare:workers";
import { admitUpTo, type RequestKind, type ThrottleLimits, type ThrottleState } from "../domain/throttle";
import type { Env } from "../env";

/**
 * The D20 throttle of one application in one tenant, named `{tenantId}:{appId}`.
 * Its buckets live in memory only: a bucket left alone for 30 s is full again,
 * and the runtime evicts an object only after it has been idle longer than
 * that, so storage would only matter across a restart (a deploy, a runtime
 * update), where forgetting costs at most one extra burst. No storage means
 * no write and no output-gate wait on every request.
 */
export class AppThrottle extends DurableObject<Env> {
  private state: ThrottleState = {};

  /**
   * Grants up to `want` requests of `kind` (at least one), or none with when
   * to retry, in epoch milliseconds, and which budget refused, after taking
   * back the `returned` unspent ones of the caller's last grant of that kind.
   */
  lease(
    kind: RequestKind,
    limits: ThrottleLimits,
    want: number,
    returned = 0,
  ): { granted: number; retryAt: number | null; refusedBy?: keyof ThrottleLimits } {
    const result = admitUpTo(this.state, kind, limits, Date.now(), want, returned);
    this.state = result.state;
    return { granted: result.granted, retryAt: result.retryAt, refusedBy: result.refusedBy };
  }
}
