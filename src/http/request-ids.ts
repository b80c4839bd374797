import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";

// D23: a caller's client-request-id is echoed as sent when it is printable
// ASCII (spaces included) of at most 128 characters, as Graph does; anything
// else (control characters, non-ASCII, longer) could garble headers or logs.
const CLIENT_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;

/** Graph's `request-id` and `client-request-id` response headers (spec 1.10). */
export const requestIds: MiddlewareHandler<AppEnv> = async (c, next) => {
  const requestId = crypto.randomUUID();
  const sent = c.req.header("client-request-id");
  const clientRequestId = sent && CLIENT_REQUEST_ID.test(sent) ? sent : requestId;
  c.set("requestId", requestId);
  c.set("clientRequestId", clientRequestId);
  await next();
  // A 101 switching to a WebSocket comes from an object with immutable headers.
  if (c.res.status === 101) return;
  c.res.headers.set("request-id", requestId);
  c.res.headers.set("client-request-id", clientRequestId);
};
