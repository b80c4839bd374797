import type { Context } from "hono";

// Case-insensitive: path segments are (D23).
const BETA = /^\/beta(?:\/|$)/i;

/** `https://host/v1.0` or `https://host/beta`, for `@odata.context` (D19: both serve the same). */
export function serviceRoot(c: Context): string {
  // The request's URL is already serialized (lower-case host, no default port), so its origin is
  // everything before the path: no second parse of the URL, unless it carries credentials.
  const url = c.req.url;
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  let origin = pathStart === -1 ? url : url.slice(0, pathStart);
  if (origin.includes("@")) origin = new URL(url).origin;
  const version = pathStart !== -1 && BETA.test(url.slice(pathStart)) ? "beta" : "v1.0";
  return `${origin}/${version}`;
}
