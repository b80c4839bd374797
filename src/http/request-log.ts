import type { Context } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "./context";

const MAX_LOGGED_PATH = 256;

/**
 * One structured line per request: who (tenant, app), what (route), how it
 * ended (status) and how long it took. The route is the matched pattern
 * (`/v1.0/users/:id/presence`); a request answered before routing (a
 * preflight, a size limit, an unknown path) logs its path instead, never the
 * query string. Tokens, bodies and message contents are never logged.
 * Written once the answer is there (`started` is when the request came in).
 */
export function logRequest(c: Context<AppEnv>, started: number): void {
  const pattern = routePath(c);
  const caller = c.get("caller");
  console.log(
    JSON.stringify({
      level: "info",
      message: "request",
      requestId: c.get("requestId"),
      tenant: caller?.tenantId ?? null,
      app: caller?.appId ?? null,
      method: c.req.method,
      route: pattern && pattern !== "/*" ? pattern : c.req.path.slice(0, MAX_LOGGED_PATH),
      status: c.res.status,
      durationMs: Math.round(performance.now() - started),
    }),
  );
}
