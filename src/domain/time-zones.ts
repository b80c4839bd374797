import { Temporal } from "temporal-polyfill";
import { WINDOWS_TO_IANA_MAP } from "windows-iana";
import { InvalidInput } from "./errors";
import type { DateTimeTimeZone } from "./model";

// CLDR's windowsZones: territory "001" names the one canonical IANA zone of each
// Windows zone. Keys are lower-case because Graph matches zone names regardless of case.
const ianaByWindowsName = new Map<string, string>();
for (const entry of WINDOWS_TO_IANA_MAP) {
  const [iana] = entry.iana;
  if (entry.territory === "001" && iana) ianaByWindowsName.set(entry.windowsName.toLowerCase(), iana);
}

/**
 * Windows registry zones (`tzutil /l`, Microsoft's "Default Time Zones" list)
 * that CLDR's map leaves out because no IANA zone follows their old rules, but
 * that Exchange, and so Graph, still accepts (D12: every Windows zone). Each
 * maps to the IANA zone with its current standard offset.
 */
const WINDOWS_ZONES_MISSING_FROM_CLDR: Record<string, string> = {
  // "(UTC+12:00) Petropavlovsk-Kamchatsky - Old": Kamchatka has kept UTC+12 without DST since 2011.
  "Kamchatka Standard Time": "Asia/Kamchatka",
  // "(UTC-02:00) Mid-Atlantic - Old": UTC-02; no place still follows its DST rules.
  "Mid-Atlantic Standard Time": "Etc/GMT+2",
};
for (const [windowsName, iana] of Object.entries(WINDOWS_ZONES_MISSING_FROM_CLDR)) {
  ianaByWindowsName.set(windowsName.toLowerCase(), iana);
}

// An IANA name: letters, digits and _ + - / only. This also keeps out the
// "+05:00" offsets that Intl accepts but Graph does not (D12).
const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+\-/]*$/;

/**
 * Resolves a Graph `timeZone` (any Windows zone name or IANA name, D12) to an
 * IANA zone id; a missing zone means UTC; anything else is rejected.
 */
export function resolveTimeZone(name: string | null | undefined): string {
  if (name === undefined || name === null || name.trim() === "") return "UTC";
  // Checking an IANA name builds an Intl formatter, which is slow; answers are kept.
  let resolved = resolvedZones.get(name);
  if (resolved === undefined) {
    resolved = resolveUncached(name.trim());
    if (resolvedZones.size > 1000) resolvedZones.clear();
    resolvedZones.set(name, resolved);
  }
  return resolved;
}

const resolvedZones = new Map<string, string>();

function resolveUncached(name: string): string {
  const fromWindows = ianaByWindowsName.get(name.toLowerCase());
  if (fromWindows) return fromWindows;
  if (IANA_NAME.test(name)) {
    try {
      return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
    } catch {
      // falls through to the error below
    }
  }
  throw new InvalidInput(`'${name}' is not a known time zone: use a Windows zone name or an IANA name.`);
}

const UTC_ZONES = new Set(["UTC", "Etc/UTC"]);
const WALL_CLOCK = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.(\d{1,9}))?)?)(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Converts a Graph `dateTimeTimeZone` (a wall-clock time in a zone) into an
 * instant, across daylight-saving changes: a time that falls in a spring-forward
 * gap moves forward, and an ambiguous autumn time takes the earlier instant
 * (Temporal's "compatible" rule, as calendars do).
 */
export function wallClockToInstant(value: { dateTime: string; timeZone?: string | null }, name: string): number {
  const zone = resolveTimeZone(value.timeZone);
  const match = WALL_CLOCK.exec(value.dateTime.trim());
  if (!match?.[1]) {
    throw new InvalidInput(
      `${name}.dateTime '${value.dateTime}' is not a date and time of the form YYYY-MM-DDThh:mm:ss.`,
    );
  }
  const offset = match[3];
  if (offset && !(offset.toUpperCase() === "Z" && UTC_ZONES.has(zone))) {
    throw new InvalidInput(
      `${name}.dateTime '${value.dateTime}' must not carry an offset; give the wall-clock time and name the zone in timeZone.`,
    );
  }
  let local: Temporal.PlainDateTime;
  try {
    local = Temporal.PlainDateTime.from(match[1], { overflow: "reject" });
  } catch {
    throw new InvalidInput(`${name}.dateTime '${value.dateTime}' is not a valid date and time.`);
  }
  return local.toZonedDateTime(zone, { disambiguation: "compatible" }).epochMilliseconds;
}

/**
 * The four fractional digits below the millisecond that a `dateTime` carries
 * ("…33.2079781" → "9781"), which an epoch-ms instant cannot hold. Zone offsets
 * are whole seconds, so these digits are the same in UTC (D28).
 */
export function subMillisecondDigits(dateTime: string): string {
  const fraction = WALL_CLOCK.exec(dateTime.trim())?.[2] ?? "";
  return fraction.padEnd(7, "0").slice(3, 7);
}

/** An instant as Graph returns it to the owner: UTC, seven fractional digits (D9), the last four as the caller sent them (D28). */
export function toUtcDateTimeTimeZone(epochMs: number, subMs = "0000"): DateTimeTimeZone {
  const iso = new Date(epochMs).toISOString(); // 2024-01-02T03:04:05.678Z
  return { dateTime: `${iso.slice(0, 23)}${subMs}`, timeZone: "UTC" };
}
