import { describe, expect, it } from "vitest";
import { EMPTY_STATE, type PresenceState } from "../../src/domain/model";
import { alarmChange, earliest, FIRST_VERSION, settle, withoutExpired } from "../../src/domain/settle";
import {
  withMailboxSettings,
  withoutPreferred,
  withoutSession,
  withoutWorkLocation,
  withPreferred,
  withSession,
  withStatusMessage,
  withWorkLocation,
} from "../../src/domain/state-changes";

const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

const busy = { sessionId: "app", availability: "Busy", activity: "InACall", durationMs: HOUR } as const;
const available = { sessionId: "app", availability: "Available", activity: "Available", durationMs: HOUR } as const;

describe("withoutExpired", () => {
  it("returns the very same state when nothing has run out", () => {
    const state = withStatusMessage(withSession(EMPTY_STATE, busy, T0), { content: "hi", expiresAt: null }, T0);
    expect(withoutExpired(state, T0 + HOUR - 1)).toBe(state);
  });

  it("drops each thing at its own instant, and signals of another local date", () => {
    let state: PresenceState = withSession(EMPTY_STATE, busy, T0);
    state = withPreferred(state, { availability: "Away", activity: "Away", durationMs: 30 * MIN }, T0);
    state = withStatusMessage(state, { content: "back soon", expiresAt: T0 + 20 * MIN }, T0);
    state = withWorkLocation(state, { layer: "manual", source: "", workLocationType: "office", placeId: null }, T0);

    const at20 = withoutExpired(state, T0 + 20 * MIN);
    expect(at20.statusMessage).toBeNull();
    expect(at20.preferred).not.toBeNull();
    const at30 = withoutExpired(state, T0 + 30 * MIN);
    expect(at30.preferred).toBeNull();
    expect(at30.sessions).toHaveLength(1);
    expect(withoutExpired(state, T0 + HOUR).sessions).toEqual([]);
    // T0 is 09:00 UTC: the signal belongs to 2026-01-15 and is gone at the next UTC midnight.
    expect(withoutExpired(state, Date.UTC(2026, 0, 15, 23, 59)).workLocationSignals).toHaveLength(1);
    expect(withoutExpired(state, Date.UTC(2026, 0, 16)).workLocationSignals).toEqual([]);
  });

  it("ends today's signals at once when the time zone moves the user into another date", () => {
    const state = withWorkLocation(
      EMPTY_STATE,
      { layer: "automatic", source: "app", workLocationType: "remote", placeId: null },
      Date.UTC(2026, 0, 15, 20, 0),
    );
    // 20:00 UTC is already the 16th in Tokyo.
    const moved = withMailboxSettings(state, { ...state.mailboxSettings, timeZone: "Tokyo Standard Time" });
    expect(withoutExpired(moved, Date.UTC(2026, 0, 15, 20, 1)).workLocationSignals).toEqual([]);
  });
});

describe("settle (D10)", () => {
  it("bumps the version on a visible change, with the instant, and not on a refresh", () => {
    const first = settle(withSession(EMPTY_STATE, busy, T0), FIRST_VERSION, T0);
    expect(first.changed).toBe(true);
    expect(first.version).toMatchObject({ counter: 1, changedAt: T0 });
    // The same application setting the same state again a minute later: nothing visible changed.
    const refresh = settle(withSession(first.state, busy, T0 + MIN), first.version, T0 + MIN);
    expect(refresh.changed).toBe(false);
    expect(refresh.version).toBe(first.version);
    const away = settle(withoutSession(refresh.state, "app") ?? refresh.state, refresh.version, T0 + 2 * MIN);
    expect(away.version).toMatchObject({ counter: 2, changedAt: T0 + 2 * MIN });
  });

  it("counts a change the clock makes (a fade) as a change, and reports the next deadline", () => {
    const set = settle(withSession(EMPTY_STATE, available, T0), FIRST_VERSION, T0);
    expect(set.nextDeadline).toBe(T0 + 5 * MIN);
    const faded = settle(set.state, set.version, T0 + 5 * MIN);
    expect(faded.changed).toBe(true);
    expect(faded.version.counter).toBe(2);
    expect(faded.nextDeadline).toBe(T0 + 10 * MIN);
    // Nothing further until the session's expiry once it shows Away.
    expect(settle(faded.state, faded.version, T0 + 10 * MIN).nextDeadline).toBe(T0 + HOUR);
  });

  it("drops what expired, so the stored state never holds it", () => {
    const set = settle(withSession(EMPTY_STATE, busy, T0), FIRST_VERSION, T0);
    const later = settle(set.state, set.version, T0 + HOUR);
    expect(later.state.sessions).toEqual([]);
    expect(later.changed).toBe(true);
    expect(later.nextDeadline).toBeNull();
  });

  it("does not count a never-written user's empty state as a change", () => {
    const settled = settle(EMPTY_STATE, FIRST_VERSION, T0);
    expect(settled.changed).toBe(false);
    expect(settled.state).toBe(EMPTY_STATE);
  });

  it("sees a clear of something not visible (a preferred presence without a session) as no change", () => {
    const preferred = withPreferred(EMPTY_STATE, { availability: "Busy", activity: "Busy", durationMs: HOUR }, T0);
    const settled = settle(withoutPreferred(preferred), FIRST_VERSION, T0);
    expect(settled.changed).toBe(false);
  });
});

describe("state changes", () => {
  it("keeps one session per application and one automatic signal per application", () => {
    const twice = withSession(withSession(EMPTY_STATE, busy, T0), available, T0 + MIN);
    expect(twice.sessions).toEqual([
      {
        sessionId: "app",
        availability: "Available",
        activity: "Available",
        refreshedAt: T0 + MIN,
        expiresAt: T0 + MIN + HOUR,
      },
    ]);
    const signal = { layer: "automatic", workLocationType: "remote", placeId: null } as const;
    let state = withWorkLocation(EMPTY_STATE, { ...signal, source: "a" }, T0);
    state = withWorkLocation(state, { ...signal, source: "b" }, T0);
    state = withWorkLocation(state, { ...signal, source: "a", workLocationType: "office" }, T0);
    expect(state.workLocationSignals.map((s) => [s.source, s.workLocationType])).toEqual([
      ["b", "remote"],
      ["a", "office"],
    ]);
    expect(withoutWorkLocation(state, "manual").workLocationSignals).toHaveLength(2);
    expect(withoutWorkLocation(state).workLocationSignals).toEqual([]);
  });

  it("says when there was no session to clear", () => {
    expect(withoutSession(EMPTY_STATE, "app")).toBeNull();
  });
});

describe("the alarm", () => {
  it("keeps an alarm armed no later than what is due, and moves or deletes it otherwise", () => {
    expect(alarmChange(T0, T0)).toBe("keep");
    expect(alarmChange(T0, T0 + MIN)).toBe("keep");
    expect(alarmChange(T0 + MIN, T0)).toBe(T0);
    expect(alarmChange(null, T0)).toBe(T0);
    expect(alarmChange(T0, null)).toBeNull();
    expect(alarmChange(null, null)).toBe("keep");
  });

  it("is the earliest of what is due", () => {
    expect(earliest(null, T0 + 2, T0 + 1, null)).toBe(T0 + 1);
    expect(earliest(null, null)).toBeNull();
  });
});
