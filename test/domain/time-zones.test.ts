import { describe, expect, it } from "vitest";
import { toSetStatusMessageCommand } from "../../src/domain/commands";
import { resolveTimeZone, toUtcDateTimeTimeZone, wallClockToInstant } from "../../src/domain/time-zones";

describe("resolveTimeZone (D12)", () => {
  it.each([
    ["Pacific Standard Time", "America/Los_Angeles"],
    ["pacific standard time", "America/Los_Angeles"],
    ["W. Europe Standard Time", "Europe/Berlin"],
    ["India Standard Time", "Asia/Calcutta"],
    ["UTC", "UTC"],
    ["Europe/Berlin", "Europe/Berlin"],
    ["America/New_York", "America/New_York"],
    ["Etc/GMT+12", "Etc/GMT+12"],
  ])("%s resolves to %s", (name, iana) => {
    // Intl may answer an alias's canonical name (Asia/Kolkata vs Asia/Calcutta).
    const resolved = resolveTimeZone(name);
    expect(new Intl.DateTimeFormat("en-US", { timeZone: resolved }).resolvedOptions().timeZone).toBe(
      new Intl.DateTimeFormat("en-US", { timeZone: iana }).resolvedOptions().timeZone,
    );
  });

  it("a missing zone is UTC", () => {
    expect(resolveTimeZone(undefined)).toBe("UTC");
    expect(resolveTimeZone(null)).toBe("UTC");
  });

  it.each(["Mars/Olympus_Mons", "Pacific Standard", "+05:00", "GMT+5:30", "../etc"])("rejects %s", (name) => {
    expect(() => resolveTimeZone(name)).toThrow(/not a known time zone/);
  });
});

describe("wallClockToInstant", () => {
  it("converts Windows-zone wall-clock times on both sides of a DST change", () => {
    // US DST began 2026-03-08 at 02:00 local: PST is UTC-8 before, PDT UTC-7 after.
    const before = wallClockToInstant({ dateTime: "2026-03-07T12:00:00", timeZone: "Pacific Standard Time" }, "x");
    const after = wallClockToInstant({ dateTime: "2026-03-08T12:00:00", timeZone: "Pacific Standard Time" }, "x");
    expect(new Date(before).toISOString()).toBe("2026-03-07T20:00:00.000Z");
    expect(new Date(after).toISOString()).toBe("2026-03-08T19:00:00.000Z");
    // 24 wall-clock hours apart, 23 real hours.
    expect(after - before).toBe(23 * 3600_000);
  });

  it("moves a time in the spring-forward gap forward, and takes the earlier of an ambiguous autumn time", () => {
    const gap = wallClockToInstant({ dateTime: "2026-03-08T02:30:00", timeZone: "Pacific Standard Time" }, "x");
    expect(new Date(gap).toISOString()).toBe("2026-03-08T10:30:00.000Z");
    const ambiguous = wallClockToInstant({ dateTime: "2026-11-01T01:30:00", timeZone: "America/Los_Angeles" }, "x");
    expect(new Date(ambiguous).toISOString()).toBe("2026-11-01T08:30:00.000Z");
  });

  it("keeps fractions of a second, and treats a missing zone as UTC", () => {
    expect(wallClockToInstant({ dateTime: "2026-05-01T10:00:00.1234567" }, "x")).toBe(
      Date.UTC(2026, 4, 1, 10, 0, 0, 123),
    );
    expect(wallClockToInstant({ dateTime: "2026-05-01T10:00" }, "x")).toBe(Date.UTC(2026, 4, 1, 10));
  });

  it("tolerates Z only with UTC, and rejects offsets", () => {
    expect(wallClockToInstant({ dateTime: "2026-05-01T10:00:00Z", timeZone: "UTC" }, "x")).toBe(
      Date.UTC(2026, 4, 1, 10),
    );
    expect(wallClockToInstant({ dateTime: "2026-05-01T10:00:00Z" }, "x")).toBe(Date.UTC(2026, 4, 1, 10));
    expect(() => wallClockToInstant({ dateTime: "2026-05-01T10:00:00Z", timeZone: "Europe/Berlin" }, "x")).toThrow(
      /offset/,
    );
    expect(() => wallClockToInstant({ dateTime: "2026-05-01T10:00:00+02:00" }, "x")).toThrow(/offset/);
  });

  it.each(["2026-02-30T10:00:00", "2026-13-01T00:00:00", "yesterday", "2026-05-01", "2026-05-01T25:00:00"])(
    "rejects %s",
    (dateTime) => {
      expect(() => wallClockToInstant({ dateTime, timeZone: "UTC" }, "statusMessage.expiryDateTime")).toThrow(
        /statusMessage\.expiryDateTime/,
      );
    },
  );

  it("formats instants for the owner with seven fractional digits in UTC", () => {
    expect(toUtcDateTimeTimeZone(Date.UTC(2026, 2, 8, 19, 0, 0, 5))).toEqual({
      dateTime: "2026-03-08T19:00:00.0050000",
      timeZone: "UTC",
    });
  });
});

describe("status message commands (D8)", () => {
  const now = Date.UTC(2026, 2, 7, 18, 0, 0);
  it("expires across a DST change at the right instant in a Windows zone", () => {
    const command = toSetStatusMessageCommand(
      {
        message: { content: "Back Sunday noon", contentType: "text" },
        expiryDateTime: { dateTime: "2026-03-08T12:00:00", timeZone: "Pacific Standard Time" },
      },
      now,
    );
    expect(command).toEqual({
      content: "Back Sunday noon",
      expiresAt: Date.UTC(2026, 2, 8, 19),
      expiresAtSubMs: "0000",
    });
  });

  it.each([
    ["statusMessage null", null],
    ["message null", { message: null }],
    ["empty content", { message: { content: "", contentType: "text" } }],
  ])("%s clears the message", (_name, input) => {
    expect(toSetStatusMessageCommand(input, now)).toBeNull();
  });

  it("accepts 280 characters (counted as characters, not UTF-16 units) and rejects 281", () => {
    expect(toSetStatusMessageCommand({ message: { content: "😀".repeat(280) } }, now)).toEqual({
      content: "😀".repeat(280),
      expiresAt: null,
    });
    expect(() => toSetStatusMessageCommand({ message: { content: "a".repeat(281) } }, now)).toThrow(
      /281 characters long; at most 280/,
    );
  });

  it("rejects html and an expiry in the past", () => {
    expect(() => toSetStatusMessageCommand({ message: { content: "<b>x</b>", contentType: "html" } }, now)).toThrow(
      /only 'text'/,
    );
    expect(() =>
      toSetStatusMessageCommand(
        { message: { content: "x" }, expiryDateTime: { dateTime: "2026-03-07T17:59:59", timeZone: "UTC" } },
        now,
      ),
    ).toThrow(/in the past/);
  });
});
