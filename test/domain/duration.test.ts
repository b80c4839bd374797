import { describe, expect, it } from "vitest";
import { durationInRange, parseIsoDuration } from "../../src/domain/duration";

const MIN = 60_000;

describe("parseIsoDuration", () => {
  it.each([
    ["PT5M", 5 * MIN],
    ["PT1H", 60 * MIN],
    ["PT1H30M", 90 * MIN],
    ["PT4H", 240 * MIN],
    ["P1D", 24 * 60 * MIN],
    ["P7D", 7 * 24 * 60 * MIN],
    ["P1DT2H", 26 * 60 * MIN],
    ["PT300S", 5 * MIN],
    ["PT0.5S", 500],
    ["pt5m", 5 * MIN],
  ])("%s is %i ms", (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it.each(["", "5", "P", "PT", "P1Y", "P1M", "P1W", "-PT5M", "PT5", "5 minutes", "P1DT", "PT1.5M"])(
    "rejects %j",
    (text) => {
      expect(() => parseIsoDuration(text)).toThrow(/not a valid ISO 8601 duration/);
    },
  );
});

describe("durationInRange", () => {
  const range = (text: string | null | undefined) =>
    durationInRange("expirationDuration", text, 5 * MIN, 5 * MIN, 240 * MIN, "PT5M and PT4H");

  it("takes the default when absent or null", () => {
    expect(range(undefined)).toBe(5 * MIN);
    expect(range(null)).toBe(5 * MIN);
  });

  it("accepts both ends of the range and rejects just outside them", () => {
    expect(range("PT5M")).toBe(5 * MIN);
    expect(range("PT4H")).toBe(240 * MIN);
    expect(() => range("PT4M59S")).toThrow(/out of range: it must be between PT5M and PT4H/);
    expect(() => range("PT4H0M1S")).toThrow(/out of range/);
  });
});
