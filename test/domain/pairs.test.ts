import { describe, expect, it } from "vitest";
import { InvalidInput } from "../../src/domain/errors";
import { ACTIVITIES, AVAILABILITIES } from "../../src/domain/model";
import { PREFERRED_PAIRS, parsePair, SESSION_PAIRS } from "../../src/domain/pairs";

const key = (a: string, b: string) => `${a}/${b}`;

describe.each([
  [
    "setPresence",
    SESSION_PAIRS,
    ["Available/Available", "Busy/InACall", "Busy/InAConferenceCall", "Away/Away", "DoNotDisturb/Presenting"],
  ],
  [
    "setUserPreferredPresence",
    PREFERRED_PAIRS,
    [
      "Available/Available",
      "Busy/Busy",
      "DoNotDisturb/DoNotDisturb",
      "BeRightBack/BeRightBack",
      "Away/Away",
      "Offline/OffWork",
    ],
  ],
] as const)("%s pairs", (_name, allowed, expected) => {
  it("accepts exactly the documented pairs and rejects every other combination", () => {
    const accepted: string[] = [];
    for (const availability of AVAILABILITIES) {
      for (const activity of ACTIVITIES) {
        try {
          const pair = parsePair(availability, activity, allowed);
          accepted.push(key(pair.availability, pair.activity));
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInput);
          expect((error as Error).message).toContain(`availability '${availability}' and activity '${activity}'`);
        }
      }
    }
    expect(accepted.sort()).toEqual([...expected].sort());
  });

  it("accepts any casing and answers in Graph's PascalCase (D1)", () => {
    for (const pair of allowed) {
      expect(parsePair(pair.availability.toLowerCase(), pair.activity.toUpperCase(), allowed)).toEqual(pair);
    }
  });

  it("rejects unknown words", () => {
    expect(() => parsePair("Focusing", "Focusing", allowed)).toThrow(/Valid combinations/);
    expect(() => parsePair("", "", allowed)).toThrow(InvalidInput);
  });
});
