import type { Context } from "hono";

/** `https://host/v1.0` or `https://host/beta`, for `@odata.context` (D19: both serve the same). */
export function serviceRoot(c: Context): string {
  const url = new URL(c.req.url);
  // Case-insensitive: path segments are (D23).
  const version = /^\/beta(?:\/|$)/i.test(url.pathname) ? "beta" : "v1.0";
  return `${url.origin}/${version}`;
}
