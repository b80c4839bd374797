import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";

/** The Content-Type of Graph's JSON answers, which SDKs parse as JSON like the bare type. */
export const GRAPH_JSON_CONTENT_TYPE =
  "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/** Every JSON answer, resource or error, goes out with Graph's own Content-Type. */
export const graphJsonContentType: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  // A 101 switching to a WebSocket comes from an object with immutable headers.
  if (c.res.status === 101) return;
  if (/^application\/json\s*(?:;|$)/i.test(c.res.headers.get("content-type") ?? "")) {
    c.res.headers.set("content-type", GRAPH_JSON_CONTENT_TYPE);
  }
};
