import type { MiddlewareHandler } from "hono";
import { bodyTooLarge, MAX_BODY_BYTES } from "./body";
import type { AppEnv } from "./context";
import { GraphError } from "./errors";

/** Every Graph URL of this API is far shorter; ids travel in bodies (getPresencesByUserId). */
export const MAX_URL_LENGTH = 4096;
/** Room for an Entra ID token with a large groups claim, and little beyond. */
export const MAX_HEADER_BYTES = 32 * 1024;

function headerBytes(headers: Headers): number {
  let total = 0;
  // Name, ": ", value and CRLF, as on the wire.
  headers.forEach((value, name) => {
    total += name.length + value.length + 4;
  });
  return total;
}

/** Refuses oversized requests before anything else looks at them: no token check, no body read. */
export const requestLimits: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.url.length > MAX_URL_LENGTH) {
    throw new GraphError(414, "RequestUriTooLong", `The request URL is longer than ${MAX_URL_LENGTH} characters.`);
  }
  if (headerBytes(c.req.raw.headers) > MAX_HEADER_BYTES) {
    throw new GraphError(
      431,
      "RequestHeaderFieldsTooLarge",
      `The request headers are larger than ${MAX_HEADER_BYTES} bytes.`,
    );
  }
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw bodyTooLarge();
  await next();
};
