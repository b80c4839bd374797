import type { Context } from "hono";
import type { AppEnv } from "./context";

/** The Content-Type of Graph's JSON answers, which SDKs parse as JSON like the bare type. */
export const GRAPH_JSON_CONTENT_TYPE =
  "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

const JSON_TYPE = /^application\/json\s*(?:;|$)/i;

/** Every JSON answer, resource or error, goes out with Graph's own Content-Type. */
export function useGraphJsonContentType(c: Context<AppEnv>): void {
  const { res } = c;
  // A 101 switching to a WebSocket comes from an object with immutable headers.
  if (res.status === 101) return;
  const type = res.headers.get("content-type");
  if (type !== null && JSON_TYPE.test(type)) res.headers.set("content-type", GRAPH_JSON_CONTENT_TYPE);
}
