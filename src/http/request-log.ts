import type { Context } from "hono";
import { routePath } from "hono/route";
import { isGuid } from "../domain/ids";
import type { AppEnv } from "./context";

const MAX_LOGGED_PATH = 256;
/** A segment this short cannot hide a credential worth the name; longer ones must look like a word. */
const MAX_PLAIN_SEGMENT = 16;
const MAX_WORD_SEGMENT = 64;
/** Letters and dots only (`presence`, `microsoft.graph.getPresencesByUserId`, `$batch`): no token is that. */
const WORD = /^\$?[A-Za-z]+(?:\.[A-Za-z]+)*$/;
/** What a cut segment becomes: not a character a URL's path can hold, so it never reads as one. */
export const CUT_SEGMENT = "…";

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
 * A path as the log may hold it: segments that are short, a GUID, or a word are kept, and any
 * other (a token pasted into the URL, a key, base64) is cut, so no credential reaches the log.
 */
export function loggablePath(path: string): string {
  return path
    .split("/")
    .map((segment) =>
      segment.length <= MAX_PLAIN_SEGMENT ||
      isGuid(segment) ||
      (segment.length <= MAX_WORD_SEGMENT && WORD.test(segment))
        ? segment
        : CUT_SEGMENT,
    )
    .join("/")
    .slice(0, MAX_LOGGED_PATH);
}

/**
 * What a log line names as the route: the matched pattern (`/v1.0/users/:id/presence`), or for a
 * request answered before routing (a preflight, a size limit, an unknown path) its path without
 * the query string, cut by `loggablePath`.
 */
export function loggedRoute(c: Context): string {
  return matchedPattern(c) ?? loggablePath(c.req.path);
}

/** The route pattern the request matched; null for one answered before routing (only `/*` matched). */
function matchedPattern(c: Context): string | null {
  const pattern = routePath(c);
  return pattern && pattern !== "/*" ? pattern : null;
}

/**
 * One structured line per request: who (tenant, app), what (route, `loggedRoute`), how it ended
 * (status) and how long it took. Tokens, bodies and message contents are never logged.
 * Written once the answer is there (`started` is when the request came in).
 * Returns what it logged, for the request's metric.
 */
export function logRequest(c: Context<AppEnv>, started: number): RequestSummary {
  const caller = c.get("caller");
  const summary: RequestSummary = {
    tenant: caller?.tenantId ?? null,
    app: caller?.appId ?? null,
    method: c.req.method,
    pattern: matchedPattern(c),
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
      route: summary.pattern ?? loggablePath(c.req.path),
      status: summary.status,
      durationMs: summary.durationMs,
    }),
  );
  return summary;
}
