import * as ipaddr from "ipaddr.js";
import { InvalidInput } from "./errors";

// D25: where the service may send a notification, checked when a subscription names it.

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
