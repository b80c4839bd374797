import type { Context } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "./context";

const MAX_LOGGED_PATH = 256;

/** What the log line and the request's metric (D31) say about an answered request. */
export interface RequestSummary {
  tenant: string | null;
  app: string | null;
  method: string;
  /** The matched route pattern; null for a request answered before routing. */
  pattern: string | null;
  status: number;
  durationMs: number;
}

/**
 * One structured line per request: who (tenant, app), what (route), how it
 * ended (status) and how long it took. The route is the matched pattern
 * (`/v1.0/users/:id/presence`); a request answered before routing (a
 * preflight, a size limit, an unknown path) logs its path instead, never the
 * query string. Tokens, bodies and message contents are never logged.
 * Written once the answer is there (`started` is when the request came in).
 * Returns what it logged, for the request's metric.
 */
export function logRequest(c: Context<AppEnv>, started: number): RequestSummary {
  const matched = routePath(c);
  const caller = c.get("caller");
  const summary: RequestSummary = {
    tenant: caller?.tenantId ?? null,
    app: caller?.appId ?? null,
    method: c.req.method,
    pattern: matched && matched !== "/*" ? matched : null,
    status: c.res.status,
    durationMs: Math.round(performance.now() - started),
  };
  console.log(
    JSON.stringify({
      level: "info",
      message: "request",
      requestId: c.get("requestId"),
      tenant: summary.tenant,
      app: summary.app,
      method: summary.method,
      route: summary.pattern ?? c.req.path.slice(0, MAX_LOGGED_PATH),
      status: summary.status,
      durationMs: summary.durationMs,
    }),
  );
  return summary;
}
