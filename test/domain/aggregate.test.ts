import { describe, expect, it } from "vitest";
import {
  AWAY_AFTER_MS,
  aggregatePresence,
  IDLE_AFTER_MS,
  nextDeadline,
  presenceView,
  sessionPresenceAt,
} from "../../src/domain/aggregate";
import { EMPTY_STATE, type PresenceSession, type PresenceState } from "../../src/domain/model";

const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);
const MIN = 60_000;

function session(over: Partial<PresenceSession> = {}): PresenceSession {
  return {
    sessionId: "app",
    availability: "Available",
    activity: "Available",
    refreshedAt: T0,
    expiresAt: T0 + 60 * MIN,
    ...over,
  };
}

const state = (over: Partial<PresenceState> = {}): PresenceState => ({ ...EMPTY_STATE, ...over });

describe("idle fade of an Available session (D5)", () => {
  const s = session();
  it.each([
    [0, "Available", "Available"],
    [IDLE_AFTER_MS - 1, "Available", "Available"],
    [IDLE_AFTER_MS, "AvailableIdle", "Inactive"],
    [AWAY_AFTER_MS - 1, "AvailableIdle", "Inactive"],
    [AWAY_AFTER_MS, "Away", "Away"],
    [59 * MIN, "Away", "Away"],
  ])("at +%i ms shows %s/%s", (offset, availability, activity) => {
    expect(sessionPresenceAt(s, T0 + offset)).toEqual({ availability, activity });
    expect(aggregatePresence(state({ sessions: [s] }), T0 + offset)).toEqual({ availability, activity });
  });

  it("disappears at its expiry, to Offline", () => {
    const st = state({ sessions: [s] });
    expect(aggregatePresence(st, s.expiresAt - 1)).toEqual({ availability: "Away", activity: "Away" });
    expect(aggregatePresence(st, s.expiresAt)).toEqual({ availability: "Offline", activity: "Offline" });
  });

  it("with the default 5-minute expiry, expires exactly when it would have turned idle", () => {
    const short = state({ sessions: [session({ expiresAt: T0 + 5 * MIN })] });
    expect(aggregatePresence(short, T0 + 5 * MIN - 1)).toEqual({ availability: "Available", activity: "Available" });
    expect(aggregatePresence(short, T0 + 5 * MIN)).toEqual({ availability: "Offline", activity: "Offline" });
  });

  it.each([
    ["Busy", "InACall"],
    ["Busy", "InAConferenceCall"],
    ["Away", "Away"],
    ["DoNotDisturb", "Presenting"],
  ] as const)("does not apply to %s/%s", (availability, activity) => {
    const s2 = session({ availability, activity });
    expect(sessionPresenceAt(s2, T0 + 30 * MIN)).toEqual({ availability, activity });
  });
});

describe("aggregation across sessions (D4)", () => {
  const ranked = [
    ["DoNotDisturb", "Presenting"],
    ["Busy", "InACall"],
    ["Available", "Available"],
    ["Away", "Away"],
  ] as const;

  it("the higher rank wins in every pair of documented states", () => {
    for (let hi = 0; hi < ranked.length; hi++) {
      for (let lo = hi + 1; lo < ranked.length; lo++) {
        const [ha, hb] = ranked[hi] ?? [];
        const [la, lb] = ranked[lo] ?? [];
        // The lower one is set later, so recency cannot be what decides.
        const st = state({
          sessions: [
            session({ sessionId: "a", availability: ha, activity: hb, refreshedAt: T0 }),
            session({ sessionId: "b", availability: la, activity: lb, refreshedAt: T0 + 1000 }),
          ],
        });
        expect(aggregatePresence(st, T0 + 2000)).toEqual({ availability: ha, activity: hb });
      }
    }
  });

  it("ranks faded states: Busy > Available > AvailableIdle > Away", () => {
    const idle = session({ sessionId: "idle", refreshedAt: T0 });
    const fresh = session({ sessionId: "fresh", refreshedAt: T0 + 6 * MIN });
    const away = session({ sessionId: "away", availability: "Away", activity: "Away", refreshedAt: T0 + 7 * MIN });
    // At +7 min: idle shows AvailableIdle, fresh shows Available.
    expect(aggregatePresence(state({ sessions: [idle, away] }), T0 + 7 * MIN)).toEqual({
      availability: "AvailableIdle",
      activity: "Inactive",
    });
    expect(aggregatePresence(state({ sessions: [idle, fresh, away] }), T0 + 7 * MIN)).toEqual({
      availability: "Available",
      activity: "Available",
    });
  });

  it("among equal ranks, the most recently set session wins", () => {
    const call = session({ sessionId: "a", availability: "Busy", activity: "InACall", refreshedAt: T0 });
    const conf = session({ sessionId: "b", availability: "Busy", activity: "InAConferenceCall", refreshedAt: T0 + 1 });
    expect(aggregatePresence(state({ sessions: [call, conf] }), T0 + 2).activity).toBe("InAConferenceCall");
    expect(aggregatePresence(state({ sessions: [conf, call] }), T0 + 2).activity).toBe("InAConferenceCall");
  });

  it("no session is Offline/Offline", () => {
    expect(aggregatePresence(state(), T0)).toEqual({ availability: "Offline", activity: "Offline" });
  });
});

describe("preferred presence (D6)", () => {
  const preferred = {
    availability: "DoNotDisturb",
    activity: "DoNotDisturb",
    setAt: T0,
    expiresAt: T0 + 60 * MIN,
  } as const;

  it("overrides the sessions while one is live", () => {
    const st = state({ sessions: [session()], preferred: { ...preferred } });
    expect(aggregatePresence(st, T0 + MIN)).toEqual({ availability: "DoNotDisturb", activity: "DoNotDisturb" });
  });

  it("can also lower the presence (appear offline, appear away)", () => {
    const st = state({
      sessions: [session({ availability: "Busy", activity: "InACall" })],
      preferred: { availability: "Offline", activity: "OffWork", setAt: T0, expiresAt: T0 + 60 * MIN },
    });
    expect(aggregatePresence(st, T0 + MIN)).toEqual({ availability: "Offline", activity: "OffWork" });
  });

  it("shows nothing without a live session", () => {
    expect(aggregatePresence(state({ preferred: { ...preferred } }), T0 + MIN)).toEqual({
      availability: "Offline",
      activity: "Offline",
    });
  });

  it("stops applying at its expiry", () => {
    const short = { ...preferred, expiresAt: T0 + 30 * MIN };
    const st = state({ sessions: [session({ availability: "Busy", activity: "InACall" })], preferred: short });
    expect(aggregatePresence(st, short.expiresAt - 1).availability).toBe("DoNotDisturb");
    expect(aggregatePresence(st, short.expiresAt)).toEqual({ availability: "Busy", activity: "InACall" });
  });
});

describe("status message in the view (D9)", () => {
  const message = { content: "Lunch", publishedAt: T0, expiresAt: T0 + 30 * MIN };

  it("the owner sees expiry and publication time in UTC; others see only the message", () => {
    const st = state({ statusMessage: message });
    expect(presenceView(st, T0, "owner", "1").statusMessage).toEqual({
      message: { content: "Lunch", contentType: "text" },
      expiryDateTime: { dateTime: "2026-01-15T09:30:00.0000000", timeZone: "UTC" },
      publishedDateTime: "2026-01-15T09:00:00.000Z",
    });
    expect(presenceView(st, T0, "other", "1").statusMessage).toEqual({
      message: { content: "Lunch", contentType: "text" },
    });
  });

  it("vanishes at its expiry and never without one", () => {
    expect(
      presenceView(state({ statusMessage: message }), message.expiresAt - 1, "other", "1").statusMessage,
    ).not.toBeNull();
    expect(presenceView(state({ statusMessage: message }), message.expiresAt, "other", "1").statusMessage).toBeNull();
    const forever = state({ statusMessage: { ...message, expiresAt: null } });
    expect(presenceView(forever, T0 + 1e12, "owner", "1").statusMessage?.expiryDateTime).toBeNull();
  });

  it("an unwritten user reads as D3", () => {
    expect(presenceView(state(), T0, "owner", "00000000000000000000")).toEqual({
      availability: "Offline",
      activity: "Offline",
      statusMessage: null,
      outOfOfficeSettings: { message: null, isOutOfOffice: false },
      workLocation: { workLocationType: "unspecified", source: "none", placeId: null },
      sequenceNumber: "00000000000000000000",
    });
  });
});

describe("nextDeadline", () => {
  it("is the earliest future fade, expiry or message expiry", () => {
    const st = state({ sessions: [session()] });
    expect(nextDeadline(st, T0)).toBe(T0 + IDLE_AFTER_MS);
    expect(nextDeadline(st, T0 + IDLE_AFTER_MS)).toBe(T0 + AWAY_AFTER_MS);
    expect(nextDeadline(st, T0 + AWAY_AFTER_MS)).toBe(T0 + 60 * MIN);
    expect(nextDeadline(st, T0 + 60 * MIN)).toBeNull();
  });

  it("includes preferred presence and status message expiries; non-Available sessions do not fade", () => {
    const st = state({
      sessions: [session({ availability: "Busy", activity: "InACall" })],
      preferred: { availability: "Busy", activity: "Busy", setAt: T0, expiresAt: T0 + 50 * MIN },
      statusMessage: { content: "x", publishedAt: T0, expiresAt: T0 + 20 * MIN },
    });
    expect(nextDeadline(st, T0)).toBe(T0 + 20 * MIN);
    expect(nextDeadline(st, T0 + 20 * MIN)).toBe(T0 + 50 * MIN);
    expect(nextDeadline(state({ statusMessage: { content: "x", publishedAt: T0, expiresAt: null } }), T0)).toBeNull();
  });
});
