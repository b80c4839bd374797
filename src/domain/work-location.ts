import { Temporal } from "temporal-polyfill";
import { InvalidInput } from "./errors";
import { WORK_LOCATION_TYPES, type WorkLocationSignal, type WorkLocationType, type WorkLocationView } from "./model";
import { resolveTimeZone } from "./time-zones";

const typeByLowerCase = new Map<string, WorkLocationType>(WORK_LOCATION_TYPES.map((t) => [t.toLowerCase(), t]));
export const PLACE_ID_MAX_LENGTH = 256;

/** Validates `workLocationType` (any casing, answered as Graph writes it) and `placeId`. */
export function parseWorkLocation(input: { workLocationType: string; placeId?: string | null }): {
  workLocationType: WorkLocationType;
  placeId: string | null;
} {
  const workLocationType = typeByLowerCase.get(input.workLocationType.toLowerCase());
  if (!workLocationType) {
    throw new InvalidInput(
      `workLocationType '${input.workLocationType}' is not supported: use one of ${WORK_LOCATION_TYPES.join(", ")}.`,
    );
  }
  const placeId = input.placeId === undefined || input.placeId === null || input.placeId === "" ? null : input.placeId;
  if (placeId !== null && placeId.length > PLACE_ID_MAX_LENGTH) {
    throw new InvalidInput(`placeId is longer than ${PLACE_ID_MAX_LENGTH} characters.`);
  }
  return { workLocationType, placeId };
}

/** Per IANA zone, the local day last asked for and the instants it spans: [from, until). */
const lastDay = new Map<string, { date: string; from: number; until: number }>();

/**
 * The user's local date (YYYY-MM-DD) at `now` in the zone named `timeZone` (D14).
 * Every presence view asks this, and the answer stays the same all day: a
 * time-zone conversion costs more than the rest of a view, so each zone's
 * current day is remembered with its bounds (keyed by the resolved IANA id,
 * so the map is never larger than the zone database).
 */
export function localDateAt(now: number, timeZone: string): string {
  const zone = resolveTimeZone(timeZone);
  const day = lastDay.get(zone);
  if (day && now >= day.from && now < day.until) return day.date;
  const zoned = Temporal.Instant.fromEpochMilliseconds(now).toZonedDateTimeISO(zone);
  const date = zoned.toPlainDate().toString();
  lastDay.set(zone, {
    date,
    from: zoned.startOfDay().epochMilliseconds,
    until: localMidnightAfter(date, zone),
  });
  return date;
}

/**
 * The instant the local date after `localDate` begins in `timeZone`: the
 * user's midnight. Where a DST change skips midnight, the day starts at the
 * first instant that exists.
 */
export function localMidnightAfter(localDate: string, timeZone: string): number {
  return Temporal.PlainDate.from(localDate)
    .add({ days: 1 })
    .toZonedDateTime({ timeZone: resolveTimeZone(timeZone) }).epochMilliseconds;
}

/** Signals of any other date than `today` have vanished. */
export function signalsOf(signals: readonly WorkLocationSignal[], today: string): WorkLocationSignal[] {
  return signals.filter((s) => s.localDate === today);
}

/**
 * The aggregated work location (spec 3.5, D15): manual beats automatic;
 * within a layer a signal with a placeId beats one without, then the latest
 * wins; nothing set is `unspecified` from `none`.
 */
export function aggregateWorkLocation(signals: readonly WorkLocationSignal[], today: string): WorkLocationView {
  const live = signalsOf(signals, today);
  for (const layer of ["manual", "automatic"] as const) {
    const best = live
      .filter((s) => s.layer === layer)
      .sort((a, b) => Number(b.placeId !== null) - Number(a.placeId !== null) || b.setAt - a.setAt)[0];
    if (best) return { workLocationType: best.workLocationType, source: layer, placeId: best.placeId };
  }
  return { workLocationType: "unspecified", source: "none", placeId: null };
}
