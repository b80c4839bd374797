import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";

// D23: a caller's client-request-id is echoed as sent when it is printable
// ASCII (spaces included) of at most 128 characters, as Graph does; anything
// else (control characters, non-ASCII, longer) could garble headers or logs.
const CLIENT_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;

/** Gives the request its `request-id` and `client-request-id` (spec 1.10), for the answer and the log. */
export function assignRequestIds(c: Context<AppEnv>): void {
  const requestId = crypto.randomUUID();
  const sent = c.req.header("client-request-id");
  c.set("requestId", requestId);
  c.set("clientRequestId", sent !== undefined && CLIENT_REQUEST_ID.test(sent) ? sent : requestId);
}

/** Puts the request's ids on its answer; a 101 switching to a WebSocket comes from an object with immutable headers. */
export function stampRequestIds(c: Context<AppEnv>): void {
  const { res } = c;
  if (res.status === 101) return;
  res.headers.set("request-id", c.get("requestId"));
  res.headers.set("client-request-id", c.get("clientRequestId"));
}

/** Graph's `request-id` and `client-request-id` response headers (spec 1.10), as a middleware of its own. */
export const requestIds: MiddlewareHandler<AppEnv> = async (c, next) => {
  assignRequestIds(c);
  await next();
  stampRequestIds(c);
};
