import { InvalidInput } from "./errors";

// Edm.Duration is an xs:dayTimeDuration: days, hours, minutes and (fractional)
// seconds; years and months have no fixed length and are not allowed.
const DAY_TIME_DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Parses an ISO 8601 day-time duration such as `PT5M`, `PT1H30M` or `P7D`
 * into milliseconds. A regular expression is simpler here than a library:
 * Graph accepts only this one small form.
 */
export function parseIsoDuration(text: string): number {
  const match = DAY_TIME_DURATION.exec(text.trim().toUpperCase());
  const [, days, hours, minutes, seconds] = match ?? [];
  const hasTime = text.toUpperCase().includes("T");
  if (!match || (!days && !hours && !minutes && !seconds) || (hasTime && !hours && !minutes && !seconds)) {
    throw new InvalidInput(`'${text}' is not a valid ISO 8601 duration (for example PT5M, PT1H or P1D).`);
  }
  return (
    Number(days ?? 0) * DAY + Number(hours ?? 0) * HOUR + Number(minutes ?? 0) * MINUTE + Number(seconds ?? 0) * SECOND
  );
}

/** Parses `text` (or takes `fallbackMs` when absent) and checks it lies in [minMs, maxMs]. */
export function durationInRange(
  name: string,
  text: string | null | undefined,
  fallbackMs: number,
  minMs: number,
  maxMs: number,
  rangeText: string,
): number {
  if (text === undefined || text === null) return fallbackMs;
  const ms = parseIsoDuration(text);
  if (ms < minMs || ms > maxMs) {
    throw new InvalidInput(`${name} '${text}' is out of range: it must be between ${rangeText}.`);
  }
  return ms;
}

export const durations = { SECOND, MINUTE, HOUR, DAY };
