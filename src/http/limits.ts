import { bodyTooLarge, MAX_BODY_BYTES } from "./body";
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

/**
 * Oversized requests, refused before anything else looks at them (no token check, no body
 * read): the error to answer with, or undefined for a request within the limits.
 */
export function sizeLimitRefusal(request: Request): GraphError | undefined {
  if (request.url.length > MAX_URL_LENGTH) {
    return new GraphError(414, "RequestUriTooLong", `The request URL is longer than ${MAX_URL_LENGTH} characters.`);
  }
  if (headerBytes(request.headers) > MAX_HEADER_BYTES) {
    return new GraphError(
      431,
      "RequestHeaderFieldsTooLarge",
      `The request headers are larger than ${MAX_HEADER_BYTES} bytes.`,
    );
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) return bodyTooLarge();
  return undefined;
}
