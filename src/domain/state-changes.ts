import type { SetPreferredCommand, SetSessionCommand, SetStatusMessageCommand } from "./commands";
import type { MailboxSettings, PresenceState, WorkLocationLayer, WorkLocationSignal, WorkLocationType } from "./model";
import { localDateAt } from "./work-location";

// What each write does to a user's state, as pure functions of the state and
// the instant. The object applies one, settles the result (settle.ts) and
// stores what differs; nothing here knows about storage.

/** setPresence: the application's session, refreshed now (spec 1.4). */
export function withSession(state: PresenceState, command: SetSessionCommand, now: number): PresenceState {
  const session = {
    sessionId: command.sessionId,
    availability: command.availability,
    activity: command.activity,
    refreshedAt: now,
    expiresAt: now + command.durationMs,
  };
  return { ...state, sessions: [...state.sessions.filter((s) => s.sessionId !== command.sessionId), session] };
}

/** clearPresence; null when the application has no session (the route answers 404, D7). */
export function withoutSession(state: PresenceState, sessionId: string): PresenceState | null {
  const sessions = state.sessions.filter((s) => s.sessionId !== sessionId);
  return sessions.length === state.sessions.length ? null : { ...state, sessions };
}

/** setUserPreferredPresence (D6). */
export function withPreferred(state: PresenceState, command: SetPreferredCommand, now: number): PresenceState {
  const { availability, activity, durationMs } = command;
  return { ...state, preferred: { availability, activity, setAt: now, expiresAt: now + durationMs } };
}

export function withoutPreferred(state: PresenceState): PresenceState {
  return { ...state, preferred: null };
}

/** setStatusMessage; a null command clears it (D8). */
export function withStatusMessage(state: PresenceState, command: SetStatusMessageCommand, now: number): PresenceState {
  const statusMessage = command && {
    content: command.content,
    expiresAt: command.expiresAt,
    publishedAt: now,
    ...(command.expiresAtSubMs ? { expiresAtSubMs: command.expiresAtSubMs } : {}),
  };
  return { ...state, statusMessage };
}

/**
 * setManualLocation / setAutomaticLocation: the signal belongs to the user's
 * local date now (D15). The manual layer has one slot (source ""), the
 * automatic layer one per application.
 */
export function withWorkLocation(
  state: PresenceState,
  signal: { layer: WorkLocationLayer; source: string; workLocationType: WorkLocationType; placeId: string | null },
  now: number,
): PresenceState {
  const stamped: WorkLocationSignal = {
    ...signal,
    localDate: localDateAt(now, state.mailboxSettings.timeZone),
    setAt: now,
  };
  const others = state.workLocationSignals.filter((s) => !(s.layer === signal.layer && s.source === signal.source));
  return { ...state, workLocationSignals: [...others, stamped] };
}

/** clearAutomaticLocation (one layer) and clearLocation (both). */
export function withoutWorkLocation(state: PresenceState, layer?: WorkLocationLayer): PresenceState {
  return { ...state, workLocationSignals: layer ? state.workLocationSignals.filter((s) => s.layer !== layer) : [] };
}

/** PATCH mailboxSettings, already merged and checked (mailbox-settings.ts). */
export function withMailboxSettings(state: PresenceState, mailboxSettings: MailboxSettings): PresenceState {
  return { ...state, mailboxSettings };
}
