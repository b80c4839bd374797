import { InvalidInput } from "./errors";
import { ACTIVITIES, type Activity, AVAILABILITIES, type Availability, type PresencePair } from "./model";

const availabilityByLowerCase = new Map<string, Availability>(AVAILABILITIES.map((a) => [a.toLowerCase(), a]));
const activityByLowerCase = new Map<string, Activity>(ACTIVITIES.map((a) => [a.toLowerCase(), a]));

/** The pairs an application may set on its session (spec 1.4, v1.0 list). */
export const SESSION_PAIRS: readonly PresencePair[] = [
  { availability: "Available", activity: "Available" },
  { availability: "Busy", activity: "InACall" },
  { availability: "Busy", activity: "InAConferenceCall" },
  { availability: "Away", activity: "Away" },
  { availability: "DoNotDisturb", activity: "Presenting" },
];

/** The pairs a user may prefer (spec 1.6). */
export const PREFERRED_PAIRS: readonly PresencePair[] = [
  { availability: "Available", activity: "Available" },
  { availability: "Busy", activity: "Busy" },
  { availability: "DoNotDisturb", activity: "DoNotDisturb" },
  { availability: "BeRightBack", activity: "BeRightBack" },
  { availability: "Away", activity: "Away" },
  { availability: "Offline", activity: "OffWork" },
];

function describe(pairs: readonly PresencePair[]): string {
  return pairs.map((p) => `${p.availability}/${p.activity}`).join(", ");
}

/**
 * Normalises a requested (availability, activity) to Graph's casing (D1) and
 * checks it is one of `allowed`; anything else is rejected with the list of
 * valid pairs, so the caller can fix the request without reading the docs.
 */
export function parsePair(availability: string, activity: string, allowed: readonly PresencePair[]): PresencePair {
  const a = availabilityByLowerCase.get(availability.toLowerCase());
  const b = activityByLowerCase.get(activity.toLowerCase());
  const match = allowed.find((p) => p.availability === a && p.activity === b);
  if (!match) {
    throw new InvalidInput(
      `The combination availability '${availability}' and activity '${activity}' is not supported. Valid combinations: ${describe(allowed)}.`,
    );
  }
  return { ...match };
}
