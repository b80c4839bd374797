import { readConfig } from "../config";
import type { Env } from "../env";

/** What a region key may hold: it becomes part of object names (`{tenant}:{region}:{n}`). */
const REGION_KEY = /^[a-z0-9-]{1,16}$/;

/**
 * The region a request is served in: its continent as Cloudflare reports it (`request.cf`),
 * lower-case, or `any` where the runtime gives none (local runs). Watch hubs and read views
 * (D30) are kept per tenant and region, so a client's socket and reads stay near it. The tests
 * and the bench, and only they, set TEST_REGION_HEADER to name a request header that picks the
 * region instead, to play readers on several continents on one machine.
 */
export function regionOf(request: Request, env: Env): string {
  const header = readConfig(env).testRegionHeader;
  const chosen = header ? request.headers.get(header) : null;
  const region = (chosen ?? (request.cf as { continent?: unknown } | undefined)?.continent ?? "any").toString();
  const key = region.toLowerCase();
  return REGION_KEY.test(key) ? key : "any";
}

/**
 * The bench's model of distance (TEST_CROSS_REGION_DELAY_MS, TEST_HOME_REGION; never set in
 * production): a call from `region` to a user's object waits the delay first unless `region` is
 * the users' home, as a call between continents pays their round trip. Resolves at once when unset.
 */
export function crossRegionDelay(env: Env, region: string): Promise<void> | undefined {
  const { crossRegion } = readConfig(env);
  if (!crossRegion || region === crossRegion.homeRegion) return undefined;
  return new Promise((resolve) => setTimeout(resolve, crossRegion.delayMs));
}
