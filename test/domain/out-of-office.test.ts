import { describe, expect, it } from "vitest";
import { mailboxSettingsView, mergeMailboxSettings } from "../../src/domain/mailbox-settings";
import { ACTIVITIES, DEFAULT_MAILBOX_SETTINGS, type MailboxSettings } from "../../src/domain/model";
import { outOfOfficeAt, outOfOfficeDeadlines, overlayOutOfOffice } from "../../src/domain/out-of-office";

const START = Date.UTC(2026, 6, 1, 7, 0); // 09:00 in Berlin (CEST)
const END = Date.UTC(2026, 6, 3, 16, 0);

const scheduled: MailboxSettings = mergeMailboxSettings(DEFAULT_MAILBOX_SETTINGS, {
  automaticRepliesSetting: {
    status: "scheduled",
    scheduledStartDateTime: { dateTime: "2026-07-01T09:00:00", timeZone: "W. Europe Standard Time" },
    scheduledEndDateTime: { dateTime: "2026-07-03T16:00:00", timeZone: "UTC" },
    internalReplyMessage: "On leave until Friday",
  },
});

describe("out-of-office window (D13)", () => {
  it("is on exactly from the start and off exactly at the end", () => {
    expect(outOfOfficeAt(scheduled, START - 1)).toEqual({ isOutOfOffice: false, message: null });
    expect(outOfOfficeAt(scheduled, START)).toEqual({ isOutOfOffice: true, message: "On leave until Friday" });
    expect(outOfOfficeAt(scheduled, END - 1).isOutOfOffice).toBe(true);
    expect(outOfOfficeAt(scheduled, END)).toEqual({ isOutOfOffice: false, message: null });
  });

  it("alwaysEnabled is always on; disabled never", () => {
    const always = mergeMailboxSettings(scheduled, { automaticRepliesSetting: { status: "alwaysenabled" } });
    expect(outOfOfficeAt(always, 0).isOutOfOffice).toBe(true);
    expect(outOfOfficeAt(always, END + 1e9).isOutOfOffice).toBe(true);
    const off = mergeMailboxSettings(scheduled, { automaticRepliesSetting: { status: "disabled" } });
    expect(outOfOfficeAt(off, START + 1).isOutOfOffice).toBe(false);
  });

  it("has the window's future edges as deadlines", () => {
    expect(outOfOfficeDeadlines(scheduled, START - 1)).toEqual([START, END]);
    expect(outOfOfficeDeadlines(scheduled, START)).toEqual([END]);
    expect(outOfOfficeDeadlines(scheduled, END)).toEqual([]);
    expect(outOfOfficeDeadlines(DEFAULT_MAILBOX_SETTINGS, 0)).toEqual([]);
  });
});

describe("activity overlay while out of office (D13)", () => {
  const kept = new Set([
    "InACall",
    "InAConferenceCall",
    "InAMeeting",
    "Presenting",
    "PresenceUnknown",
    "UrgentInterruptionsOnly",
    "OutOfOffice",
  ]);
  it.each(ACTIVITIES)("%s", (activity) => {
    const pair = { availability: "Busy" as const, activity };
    const expected = kept.has(activity) ? activity : "OutOfOffice";
    expect(overlayOutOfOffice(pair, true)).toEqual({ availability: "Busy", activity: expected });
    expect(overlayOutOfOffice(pair, false)).toEqual(pair);
  });
});

describe("mergeMailboxSettings", () => {
  it("merges only what is given and keeps the rest", () => {
    const merged = mergeMailboxSettings(scheduled, { timeZone: "Tokyo Standard Time" });
    expect(merged.timeZone).toBe("Tokyo Standard Time");
    expect(merged.automaticRepliesSetting).toEqual(scheduled.automaticRepliesSetting);
    expect(mailboxSettingsView(merged).automaticRepliesSetting.scheduledStartDateTime).toEqual({
      dateTime: "2026-07-01T09:00:00",
      timeZone: "W. Europe Standard Time",
    });
  });

  it.each([
    [
      "end before start",
      { scheduledEndDateTime: { dateTime: "2026-06-30T00:00:00", timeZone: "UTC" } },
      /must be after/,
    ],
    [
      "end equal to start",
      { scheduledEndDateTime: { dateTime: "2026-07-01T07:00:00", timeZone: "UTC" } },
      /must be after/,
    ],
    ["no end", { scheduledEndDateTime: null }, /needs both/],
    ["an unknown status", { status: "sometimes" }, /status 'sometimes' is not supported/],
    ["an unknown audience", { externalAudience: "friends" }, /externalAudience 'friends'/],
    [
      "an unknown zone",
      { scheduledStartDateTime: { dateTime: "2026-07-01T09:00:00", timeZone: "Atlantis" } },
      /not a known time zone/,
    ],
  ])("refuses %s", (_what, automaticRepliesSetting, message) => {
    expect(() => mergeMailboxSettings(scheduled, { automaticRepliesSetting })).toThrow(message);
  });

  it("refuses 'scheduled' without a window", () => {
    expect(() =>
      mergeMailboxSettings(DEFAULT_MAILBOX_SETTINGS, { automaticRepliesSetting: { status: "scheduled" } }),
    ).toThrow(/needs both/);
  });

  it("refuses an unknown or empty time zone", () => {
    expect(() => mergeMailboxSettings(DEFAULT_MAILBOX_SETTINGS, { timeZone: "Nowhere/Land" })).toThrow(
      /not a known time zone/,
    );
    expect(() => mergeMailboxSettings(DEFAULT_MAILBOX_SETTINGS, { timeZone: " " })).toThrow(/must not be empty/);
  });
});
