import { DurableObject } from "cloudflare:workers";
import { admit, type RequestKind, type ThrottleLimits, type ThrottleState } from "../domain/throttle";
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

  /** Admits the request (null) or returns when to retry, in epoch milliseconds. */
  admit(kind: RequestKind, limits: ThrottleLimits): number | null {
    const result = admit(this.state, kind, limits, Date.now());
    this.state = result.state;
    return result.retryAt;
  }
}
