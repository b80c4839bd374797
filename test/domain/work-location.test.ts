import { describe, expect, it } from "vitest";
import type { WorkLocationSignal } from "../../src/domain/model";
import {
  aggregateWorkLocation,
  localDateAt,
  localMidnightAfter,
  parseWorkLocation,
} from "../../src/domain/work-location";

const TODAY = "2026-06-15";
const signal = (over: Partial<WorkLocationSignal>): WorkLocationSignal => ({
  layer: "automatic",
  source: "app",
  workLocationType: "office",
  placeId: null,
  localDate: TODAY,
  setAt: 1000,
  ...over,
});

describe("aggregateWorkLocation (spec 3.5, D15)", () => {
  it("nothing set is unspecified from none", () => {
    expect(aggregateWorkLocation([], TODAY)).toEqual({
      workLocationType: "unspecified",
      source: "none",
      placeId: null,
    });
  });

  it("manual beats automatic, even an automatic signal with a place and set later", () => {
    const signals = [
      signal({ layer: "manual", source: "", workLocationType: "remote", setAt: 1 }),
      signal({ layer: "automatic", workLocationType: "office", placeId: "bldg-1", setAt: 2 }),
    ];
    expect(aggregateWorkLocation(signals, TODAY)).toEqual({
      workLocationType: "remote",
      source: "manual",
      placeId: null,
    });
  });

  it("within a layer, a signal with a placeId beats one without, whatever their order", () => {
    const precise = signal({ source: "dock", placeId: "bldg-7", setAt: 1 });
    const vague = signal({ source: "teams", workLocationType: "remote", setAt: 2 });
    expect(aggregateWorkLocation([precise, vague], TODAY)).toEqual({
      workLocationType: "office",
      source: "automatic",
      placeId: "bldg-7",
    });
    expect(aggregateWorkLocation([vague, precise], TODAY)).toEqual({
      workLocationType: "office",
      source: "automatic",
      placeId: "bldg-7",
    });
  });

  it("among equally precise signals the latest wins", () => {
    const a = signal({ source: "a", workLocationType: "office", setAt: 1 });
    const b = signal({ source: "b", workLocationType: "remote", setAt: 2 });
    expect(aggregateWorkLocation([a, b], TODAY).workLocationType).toBe("remote");
  });

  it("ignores signals of another date", () => {
    const yesterday = signal({ layer: "manual", localDate: "2026-06-14", workLocationType: "timeOff" });
    expect(aggregateWorkLocation([yesterday], TODAY).source).toBe("none");
  });
});

describe("parseWorkLocation", () => {
  it("accepts the four types in any casing and answers Graph's casing", () => {
    expect(parseWorkLocation({ workLocationType: "TIMEOFF" })).toEqual({ workLocationType: "timeOff", placeId: null });
    expect(parseWorkLocation({ workLocationType: "office", placeId: "p" })).toEqual({
      workLocationType: "office",
      placeId: "p",
    });
  });

  it.each(["unknownFutureValue", "home", ""])("rejects %j", (workLocationType) => {
    expect(() => parseWorkLocation({ workLocationType })).toThrow(/workLocationType .* is not supported/);
  });

  it("rejects an over-long placeId", () => {
    expect(() => parseWorkLocation({ workLocationType: "office", placeId: "x".repeat(257) })).toThrow(/placeId/);
  });
});

describe("local dates and midnights (D14)", () => {
  it("east of UTC: Tokyo's date turns at 15:00 UTC", () => {
    expect(localDateAt(Date.UTC(2026, 5, 15, 14, 59, 59), "Tokyo Standard Time")).toBe("2026-06-15");
    expect(localDateAt(Date.UTC(2026, 5, 15, 15, 0, 0), "Tokyo Standard Time")).toBe("2026-06-16");
    expect(localMidnightAfter("2026-06-15", "Tokyo Standard Time")).toBe(Date.UTC(2026, 5, 15, 15));
  });

  it("west of UTC: Los Angeles's date turns at 07:00 UTC in summer", () => {
    expect(localDateAt(Date.UTC(2026, 5, 16, 6, 59), "Pacific Standard Time")).toBe("2026-06-15");
    expect(localMidnightAfter("2026-06-15", "America/Los_Angeles")).toBe(Date.UTC(2026, 5, 16, 7));
  });

  it("on a DST-change day: the 23-hour day in Los Angeles ends at the right instant", () => {
    // 2026-03-08 begins in PST (UTC-8) and ends in PDT (UTC-7).
    expect(localMidnightAfter("2026-03-07", "Pacific Standard Time")).toBe(Date.UTC(2026, 2, 8, 8));
    expect(localMidnightAfter("2026-03-08", "Pacific Standard Time")).toBe(Date.UTC(2026, 2, 9, 7));
  });

  it("where DST skips midnight itself, the day starts at the first instant that exists", () => {
    // Chile moves from UTC-4 to UTC-3 at 00:00 on 2026-09-06: that day starts at 01:00 local.
    expect(localMidnightAfter("2026-09-05", "America/Santiago")).toBe(Date.UTC(2026, 8, 6, 4));
    expect(localDateAt(Date.UTC(2026, 8, 6, 4), "America/Santiago")).toBe("2026-09-06");
    expect(localDateAt(Date.UTC(2026, 8, 6, 4) - 1, "America/Santiago")).toBe("2026-09-05");
  });

  it("remembers a DST day with its true length: 23 hours, and 25", () => {
    // Los Angeles: 2026-03-08 runs from 08:00 UTC to 07:00 UTC the next day;
    // 2026-11-01 from 07:00 UTC to 08:00 UTC the next day.
    expect(localDateAt(Date.UTC(2026, 2, 8, 12), "America/Los_Angeles")).toBe("2026-03-08");
    expect(localDateAt(Date.UTC(2026, 2, 9, 7) - 1, "America/Los_Angeles")).toBe("2026-03-08");
    expect(localDateAt(Date.UTC(2026, 2, 9, 7), "America/Los_Angeles")).toBe("2026-03-09");
    expect(localDateAt(Date.UTC(2026, 10, 1, 12), "America/Los_Angeles")).toBe("2026-11-01");
    expect(localDateAt(Date.UTC(2026, 10, 2, 8) - 1, "America/Los_Angeles")).toBe("2026-11-01");
    expect(localDateAt(Date.UTC(2026, 10, 2, 8), "America/Los_Angeles")).toBe("2026-11-02");
  });

  it("answers from its remembered day only inside that day, whatever order the instants come in", () => {
    // Tokyo's 2026-06-16 spans [15:00 UTC on the 15th, 15:00 UTC on the 16th).
    const start = Date.UTC(2026, 5, 15, 15);
    const asked = [
      start + 1,
      start - 1,
      start,
      start + 86_400_000 - 1,
      start + 86_400_000,
      start + 3_600_000,
      start - 86_400_000 - 1,
    ];
    expect(asked.map((t) => localDateAt(t, "Tokyo Standard Time"))).toEqual([
      "2026-06-16",
      "2026-06-15",
      "2026-06-16",
      "2026-06-16",
      "2026-06-17",
      "2026-06-16",
      "2026-06-14",
    ]);
    // Another name for the same zone agrees.
    expect(asked.map((t) => localDateAt(t, "Asia/Tokyo"))).toEqual(
      asked.map((t) => localDateAt(t, "Tokyo Standard Time")),
    );
  });
});
