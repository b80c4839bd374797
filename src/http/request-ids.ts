import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";

// A caller's client-request-id is echoed only when it is a sane token, so a
// header cannot be used to inject text into responses or logs.
const CLIENT_REQUEST_ID = /^[\w.:-]{1,128}$/;

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
