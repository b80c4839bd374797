import type { ReceiverAnswer } from "../notifications/outbound";
import { logError } from "../shared/log";

// D31: the operator's metrics, one Workers Analytics Engine data point per request, change
// fan-out, webhook delivery and throttle refusal. Every rule of what a point holds lives here;
// docs/operations.md ("Metrics") shows the same schema and its queries (scripts/ops.mjs) rely on
// it, so a column keeps its meaning once deployed: add new ones at the end.
//
// A point never holds a token, a body, a status message's text, a user id or a URL's path: only
// ids of tenants and applications, route patterns, a receiver's host, outcomes and numbers.

/** What a point counts, in blob1. */
export type MetricEvent = "request" | "fanout" | "delivery" | "throttle";

/**
 * The dataset's columns. `index1` (Analytics Engine's sampling key) is the tenant id, so that one
 * busy tenant is sampled without thinning the others ("none" before a token names a tenant).
 */
export const METRICS_SCHEMA = {
  blobs: {
    blob1: "event: request, fanout, delivery or throttle",
    blob2: "tenant id (empty before a token is verified)",
    blob3: "application id (empty before a token is verified, and for fan-out)",
    blob4: "request and throttle: the route pattern, (unrouted) or (watch socket); delivery: change or lifecycle",
    blob5:
      "request: the method; fanout: complete or retry; delivery: 2xx, 3xx, 4xx, 5xx, timeout or unreachable; throttle: reads, all or overloaded",
    blob6: "delivery: the receiver's host name",
  },
  doubles: {
    request: ["duration (ms)", "status"],
    fanout: [
      "lag: the change's time to its last hub (ms)",
      "relays called",
      "hubs reached",
      "changes",
      "relays failed",
    ],
    delivery: ["latency (ms)", "attempt", "notifications", "HTTP status (0: none)"],
    throttle: ["retry after (ms)"],
  } satisfies Record<MetricEvent, string[]>,
} as const;

/** The route of a request answered before routing (a preflight, a size limit, an unknown path). */
export const UNROUTED = "(unrouted)";
/** The "route" of a watch socket's frame, throttled like a request (D27). */
export const WATCH_SOCKET = "(watch socket)";

/** Ids come from verified tokens; the cap only keeps a point within the platform's limits. */
const MAX_ID = 64;

interface Who {
  tenant?: string | null;
  app?: string | null;
}

/** A failed write is logged at most this often per isolate, not once per request. */
const FAILURE_LOG_INTERVAL_MS = 60_000;
let lastFailureLoggedAt = Number.NEGATIVE_INFINITY;

/**
 * Writes one point. Never throws and never waits: the binding queues the point and returns, and a
 * missing binding (or one that refuses, e.g. past 250 points in one invocation) costs the caller
 * nothing but the metric.
 */
function write(
  env: { METRICS?: AnalyticsEngineDataset } | undefined,
  event: MetricEvent,
  who: Who,
  route: string,
  detail: string,
  host: string,
  doubles: number[],
): void {
  const dataset = env?.METRICS;
  if (!dataset) return;
  const tenant = (who.tenant ?? "").slice(0, MAX_ID);
  try {
    dataset.writeDataPoint({
      indexes: [tenant || "none"],
      blobs: [event, tenant, (who.app ?? "").slice(0, MAX_ID), route, detail, host],
      doubles,
    });
  } catch (error) {
    const now = Date.now();
    if (now - lastFailureLoggedAt < FAILURE_LOG_INTERVAL_MS) return;
    lastFailureLoggedAt = now;
    logError({ object: "metrics" }, "metrics write", error, { metric: event });
  }
}

/** A request, once answered: its route pattern (null before routing), method, status and duration. */
export function recordRequest(
  env: { METRICS?: AnalyticsEngineDataset } | undefined,
  request: Who & { pattern: string | null; method: string; status: number; durationMs: number },
): void {
  write(env, "request", request, request.pattern ?? UNROUTED, request.method, "", [request.durationMs, request.status]);
}

/**
 * One batch of a user's changes handed to the user's relays (DESIGN.md, "Fan-out"): `complete`
 * when every relay took it, else `retry` (the alarm sends it again). The lag runs from the oldest
 * change of the batch (`changedAt`) to the last hub's answer, or to the relays' answers when no hub
 * watches the user. The application is not known here: a change may come from an alarm.
 */
export function recordFanout(
  env: { METRICS?: AnalyticsEngineDataset } | undefined,
  tenant: string,
  fanout: {
    outcome: "complete" | "retry";
    lagMs: number;
    relays: number;
    hubs: number;
    changes: number;
    relaysFailed: number;
  },
): void {
  write(env, "fanout", { tenant }, "", fanout.outcome, "", [
    Math.max(0, fanout.lagMs),
    fanout.relays,
    fanout.hubs,
    fanout.changes,
    fanout.relaysFailed,
  ]);
}

/** What a receiver's answer counts as: its status class, or why there was none. */
export function deliveryOutcome(answer: ReceiverAnswer): string {
  if (answer.kind !== "answered") return answer.kind;
  return `${Math.min(5, Math.max(1, Math.floor(answer.status / 100)))}xx`;
}

/** A receiver's host name: never the path or query (they may carry the subscriber's secrets), nor a user:password. */
export function receiverHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/** One notification POST, for the notifications in it of one (tenant, app). */
export function recordDelivery(
  env: { METRICS?: AnalyticsEngineDataset } | undefined,
  who: Who,
  delivery: {
    kind: "change" | "lifecycle";
    url: string;
    answer: ReceiverAnswer;
    latencyMs: number;
    attempt: number;
    notifications: number;
  },
): void {
  const { answer } = delivery;
  write(env, "delivery", who, delivery.kind, deliveryOutcome(answer), receiverHost(delivery.url), [
    delivery.latencyMs,
    delivery.attempt,
    delivery.notifications,
    answer.kind === "answered" ? answer.status : 0,
  ]);
}

/** The D20 budget that refused: `reads` or `all`; `overloaded` when the app's throttle was too busy to answer. */
export type ThrottleBudget = "reads" | "all" | "overloaded";

/** A request or socket frame refused by the throttle (D20, D27). */
export function recordThrottle(
  env: { METRICS?: AnalyticsEngineDataset } | undefined,
  who: Who,
  refusal: { route: string; budget: ThrottleBudget; retryAfterMs: number },
): void {
  write(env, "throttle", who, refusal.route, refusal.budget, "", [Math.max(0, refusal.retryAfterMs)]);
}
