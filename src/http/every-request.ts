import type { MiddlewareHandler } from "hono";
import { recordRequest } from "../observability/metrics";
import type { AppEnv } from "./context";
import { exposeToOrigin, originAllowed, preflightAnswer } from "./cors";
import { errorResponse } from "./errors";
import { useGraphJsonContentType } from "./graph-json";
import { sizeLimitRefusal } from "./limits";
import { assignRequestIds, stampRequestIds } from "./request-ids";
import { logRequest } from "./request-log";

/**
 * What every request goes through before its route and after it (DESIGN.md, "The request
 * pipeline", steps 1 to 4), in this order, cheapest refusals first:
 *
 * 1. request ids (every answer carries them, errors included);
 * 2. the request log line and metric (D31), written after the answer, so refusals count too;
 * 3. CORS: a preflight is answered here, before the limits, so their refusals are readable by a page;
 * 4. size limits: URL (414), headers (431), declared body (413).
 *
 * On the way out every JSON answer gets Graph's Content-Type. One middleware rather than five,
 * one per step: each Hono middleware is an async frame and a promise per request, and all the
 * headers the answer gets here are set in one place (docs/benchmarks.md, "Where a request's time
 * goes", has what each step costs).
 */
export const everyRequest: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  assignRequestIds(c);
  const origin = c.req.header("origin");
  const allowed = originAllowed(c, origin);
  const preflight = preflightAnswer(c, origin, allowed);
  if (preflight) {
    // The preflight's own CORS headers are all it needs.
    c.res = preflight;
  } else {
    const refusal = sizeLimitRefusal(c.req.raw);
    if (refusal) c.res = errorResponse(c, refusal);
    else await next();
    useGraphJsonContentType(c);
    if (allowed) exposeToOrigin(c, origin);
  }
  // D31: the same facts as the log line, as a metric (the route pattern only, never a path).
  recordRequest(c.env, logRequest(c, started));
  stampRequestIds(c);
};
