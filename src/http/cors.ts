import type { Context } from "hono";
import { readConfig } from "../config";
import type { AppEnv } from "./context";

const ALLOWED_METHODS = "GET, POST, PATCH, DELETE";
// What the Graph SDKs and browser apps send besides the simple headers.
const ALLOWED_HEADERS = "Authorization, Content-Type, client-request-id, return-client-request-id, SdkVersion, Prefer";
// Graph's own response headers a browser app needs to read (tracing, throttling, auth errors).
const EXPOSED_HEADERS = "request-id, client-request-id, Retry-After, WWW-Authenticate, Location";
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

const patternCache = new WeakMap<readonly string[], RegExp[]>();

/**
 * `CORS_ORIGINS` as patterns: exact origins, where `*` stands for one host
 * label or a port (`http://localhost:*`, `https://*.contoso.com`), never for
 * a dot or a slash, so it cannot stretch over another site's name.
 */
function originPatterns(origins: readonly string[]): RegExp[] {
  let patterns = patternCache.get(origins);
  if (!patterns) {
    patterns = origins.map((origin) => {
      const source = origin
        .split("*")
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("[a-z0-9-]+");
      return new RegExp(`^${source}$`, "i");
    });
    patternCache.set(origins, patterns);
  }
  return patterns;
}

export function isAllowedOrigin(origin: string, origins: readonly string[]): boolean {
  return originPatterns(origins).some((pattern) => pattern.test(origin));
}

/**
 * CORS for browser apps: whether the page at `origin` (the request's Origin header) may read
 * the answers. Requests without one (servers, SDKs outside a browser) skip the rest.
 */
export function originAllowed(c: Context<AppEnv>, origin: string | undefined): origin is string {
  return origin !== undefined && isAllowedOrigin(origin, readConfig(c.env).corsOrigins);
}

/**
 * A preflight is answered before the token check and throttling (browsers send it without
 * credentials): 204 with the CORS headers for an allowed origin, 204 without them for any
 * other, which the browser then refuses. Undefined when the request is not a preflight.
 */
export function preflightAnswer(
  c: Context<AppEnv>,
  origin: string | undefined,
  allowed: boolean,
): Response | undefined {
  if (origin === undefined || c.req.method !== "OPTIONS" || !c.req.header("access-control-request-method")) {
    return undefined;
  }
  const headers: Record<string, string> = { Vary: "Origin" };
  if (allowed) {
    headers["Access-Control-Allow-Origin"] = origin;
    headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS;
    headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS;
    headers["Access-Control-Max-Age"] = String(PREFLIGHT_MAX_AGE_SECONDS);
  }
  return c.body(null, 204, headers);
}

/** Lets the allowed page at `origin` read the answer, errors included. */
export function exposeToOrigin(c: Context<AppEnv>, origin: string): void {
  const { res } = c;
  // A 101 switching to a WebSocket has immutable headers, and browsers ignore CORS on it.
  if (res.status === 101) return;
  res.headers.set("Access-Control-Allow-Origin", origin);
  res.headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
  res.headers.append("Vary", "Origin");
}
