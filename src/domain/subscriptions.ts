import * as ipaddr from "ipaddr.js";
import { Temporal } from "temporal-polyfill";
import { InvalidInput } from "./errors";

/** Spec 5.1: one subscription covers at most 650 distinct users. */
export const MAX_USERS_PER_SUBSCRIPTION = 650;
/** D16: a presence subscription lives at most 60 minutes. */
export const MAX_SUBSCRIPTION_LIFETIME_MS = 60 * 60_000;
export const CLIENT_STATE_MAX_LENGTH = 128;
export const CERTIFICATE_ID_MAX_LENGTH = 128;
/** D26: active subscriptions per (tenant, app) unless SUBSCRIPTIONS_PER_APP says otherwise. */
export const MAX_SUBSCRIPTIONS_PER_APP_DEFAULT = 1000;

/** Graph answers a quota with 403 and a message naming the limit that was reached. */
export const subscriptionQuotaMessage = (limit: number) =>
  `Maximum number of subscriptions has been reached: an application may have at most ${limit} active subscriptions in a tenant.`;
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
 * Notification URLs must be https, and must not point into the service's own
 * network (D25): loopback, private, link-local, CGNAT and unique-local
 * addresses and `localhost` names are refused. The hosts an operator listed
 * (NOTIFICATION_HTTP_HOSTS) are trusted: they may use plain http and may be
 * private addresses (local development, a receiver beside the service).
 */
export function checkNotificationUrl(name: string, url: string, trustedHosts: ReadonlySet<string>): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInput(`${name} '${url}' is not an absolute URL.`);
  }
  // The URL parser already lowercases the host and spells every IPv4 form (2130706433, 0x7f.1) as a.b.c.d.
  const host = parsed.hostname;
  const web = parsed.protocol === "https:" || parsed.protocol === "http:";
  if (web && (trustedHosts.has(host) || trustedHosts.has(host.replace(/^\[(.*)\]$/, "$1")))) {
    return parsed.toString();
  }
  if (web && isLocalNetworkHost(host)) {
    throw new InvalidInput(
      `${name} must not point at a loopback, private or link-local address, or at localhost ('${host}').`,
    );
  }
  if (parsed.protocol === "https:") return parsed.toString();
  throw new InvalidInput(
    `${name} must use https${parsed.protocol === "http:" ? ` (plain http is not allowed for ${host})` : ""}.`,
  );
}

/** Names that resolve to this machine (RFC 6761), with or without the root's trailing dot. */
const LOCAL_NAMES = /^(?:.+\.)?localhost\.?$/;

/**
 * True for `localhost` names and for IP literals that are not public unicast
 * addresses: ipaddr.js knows the special ranges (0/8, 10/8, 127/8, 100.64/10,
 * 169.254/16, 172.16/12, 192.168/16, broadcast, multicast, reserved; ::, ::1,
 * fc00::/7, fe80::/10, ...); an IPv4-mapped IPv6 address is judged by the
 * IPv4 address it carries.
 */
export function isLocalNetworkHost(hostname: string): boolean {
  if (LOCAL_NAMES.test(hostname)) return true;
  const literal = hostname.replace(/^\[(.*)\]$/, "$1");
  if (ipaddr.IPv4.isValidFourPartDecimal(literal)) return ipaddr.IPv4.parse(literal).range() !== "unicast";
  if (!hostname.startsWith("[") || !ipaddr.IPv6.isValid(literal)) return false;
  const address = ipaddr.IPv6.parse(literal);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().range() !== "unicast";
  // ::/96: ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d, which no public receiver uses.
  if (address.parts.slice(0, 6).every((part) => part === 0)) return true;
  return address.range() !== "unicast";
}

/** The hosts an operator trusts as receivers (comma-separated), lowercased; `[::1]` and `::1` both work. */
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
