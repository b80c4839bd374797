import { Temporal } from "temporal-polyfill";
import { InvalidInput } from "./errors";

/** Spec 5.1: one subscription covers at most 650 distinct users. */
export const MAX_USERS_PER_SUBSCRIPTION = 650;
/** D16: a presence subscription lives at most 60 minutes. */
export const MAX_SUBSCRIPTION_LIFETIME_MS = 60 * 60_000;
export const CLIENT_STATE_MAX_LENGTH = 128;
export const CERTIFICATE_ID_MAX_LENGTH = 128;
/** When the reauthorizationRequired lifecycle notification goes out: this long before expiry. */
export const LIFECYCLE_NOTICE_MS = 5 * 60_000;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SINGLE = /^\/?communications\/presences\/([^/?]+)$/i;
const FILTER = /^\/?communications\/presences\?\$filter=\s*id\s+in\s*\((.*)\)\s*$/i;

/**
 * The users a presence subscription's `resource` names (spec 5.1): either
 * `/communications/presences/{id}` or
 * `/communications/presences?$filter=id in ('a','b',...)` with quoted ids.
 */
export function parseSubscriptionResource(resource: string): string[] {
  let text = resource.trim();
  try {
    // Some clients send the filter URL-encoded.
    if (text.includes("%")) text = decodeURIComponent(text);
  } catch {
    throw new InvalidInput(`resource '${resource}' is not a valid URL path.`);
  }
  const single = SINGLE.exec(text);
  if (single?.[1]) {
    if (!GUID.test(single[1])) throw new InvalidInput(`'${single[1]}' in resource is not a valid user id (a GUID).`);
    return [single[1].toLowerCase()];
  }
  const filter = FILTER.exec(text);
  if (!filter) {
    throw new InvalidInput(
      "resource must be /communications/presences/{id} or /communications/presences?$filter=id in ('{id}','{id}',...).",
    );
  }
  const items = (filter[1] ?? "").split(",").map((item) => item.trim());
  const ids: string[] = [];
  for (const item of items) {
    const quoted = /^'([^']*)'$/.exec(item);
    if (!quoted)
      throw new InvalidInput(`Invalid filter clause: ids must be quoted, as in id in ('${item || "{id}"}').`);
    const id = quoted[1] ?? "";
    if (!GUID.test(id)) throw new InvalidInput(`'${id}' in resource is not a valid user id (a GUID).`);
    ids.push(id.toLowerCase());
  }
  const distinct = [...new Set(ids)];
  if (distinct.length < 1 || distinct.length > MAX_USERS_PER_SUBSCRIPTION) {
    throw new InvalidInput(
      `A presence subscription covers 1 to ${MAX_USERS_PER_SUBSCRIPTION} users; this one names ${distinct.length}.`,
    );
  }
  return distinct;
}

/** The resource in one canonical spelling, so duplicates are found however they were written (D17). */
export function canonicalResource(userIds: readonly string[]): string {
  return userIds.length === 1
    ? `/communications/presences/${userIds[0]}`
    : `/communications/presences?$filter=id in (${[...userIds]
        .sort()
        .map((id) => `'${id}'`)
        .join(",")})`;
}

/** D16: a future instant at most 60 minutes away. */
export function parseExpiration(text: string, now: number): number {
  let at: number;
  try {
    at = Temporal.Instant.from(text.trim()).epochMilliseconds;
  } catch {
    throw new InvalidInput(
      `expirationDateTime '${text}' is not a date and time with an offset, like 2030-01-01T10:00:00Z.`,
    );
  }
  if (at <= now) throw new InvalidInput("expirationDateTime must be in the future.");
  if (at > now + MAX_SUBSCRIPTION_LIFETIME_MS) {
    throw new InvalidInput("expirationDateTime may be at most 60 minutes from now for presence subscriptions.");
  }
  return at;
}

/**
 * Notification URLs must be https. Plain http only for the hosts an operator
 * listed (NOTIFICATION_HTTP_HOSTS), so nobody can make the service call
 * arbitrary plain-http addresses.
 */
export function checkNotificationUrl(name: string, url: string, httpHosts: ReadonlySet<string>): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInput(`${name} '${url}' is not an absolute URL.`);
  }
  if (parsed.protocol === "https:") return parsed.toString();
  if (parsed.protocol === "http:" && httpHosts.has(parsed.hostname.toLowerCase())) return parsed.toString();
  throw new InvalidInput(
    `${name} must use https${parsed.protocol === "http:" ? ` (plain http is not allowed for ${parsed.hostname})` : ""}.`,
  );
}

export function httpHostsFrom(setting: string | undefined): Set<string> {
  return new Set(
    (setting ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Retries: first within about 5 s, doubling, at most 10 minutes apart (spec 5.5). */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(600, 5 * 2 ** Math.max(0, attempts - 1));
}

/** After 4 hours of failed tries a notification is dropped (spec 5.5). */
export const GIVE_UP_AFTER_MS = 4 * 60 * 60_000;
