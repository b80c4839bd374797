import {
  DEFAULT_FADE,
  type FadeTimings,
  isSessionLive,
  isStatusMessageLive,
  nextDeadline,
  presenceView,
} from "./aggregate";
import { EMPTY_STATE, type PresenceState } from "./model";
import { localDateAt } from "./work-location";

/**
 * D10: where a user's visible presence stands. `counter` is the
 * sequenceNumber's value; `visible` the owner's view (without its number) at
 * the last change, as JSON, null before the first; `changedAt` when that
 * change happened, null for a user nobody has written.
 */
export interface Version {
  counter: number;
  visible: string | null;
  changedAt: number | null;
}

export const FIRST_VERSION: Version = Object.freeze({ counter: 0, visible: null, changedAt: null });

/**
 * `state` without what has run out by `now`: sessions past their expiry, the
 * preferred presence and status message past theirs, and work-location
 * signals of any other local date than the user's today (D15). Returns
 * `state` itself when nothing ran out.
 */
export function withoutExpired(state: PresenceState, now: number): PresenceState {
  const today = localDateAt(now, state.mailboxSettings.timeZone);
  const sessions = state.sessions.filter((s) => isSessionLive(s, now));
  const signals = state.workLocationSignals.filter((s) => s.localDate === today);
  const preferred = state.preferred && state.preferred.expiresAt > now ? state.preferred : null;
  const statusMessage =
    state.statusMessage && isStatusMessageLive(state.statusMessage, now) ? state.statusMessage : null;
  if (
    sessions.length === state.sessions.length &&
    signals.length === state.workLocationSignals.length &&
    preferred === state.preferred &&
    statusMessage === state.statusMessage
  ) {
    return state;
  }
  return { ...state, sessions, workLocationSignals: signals, preferred, statusMessage };
}

/** What settling a user's state at an instant found. */
export interface Settled {
  /** The state without what expired: what is to be stored. */
  state: PresenceState;
  /** The version, one higher when the owner's view changed. */
  version: Version;
  changed: boolean;
  /** The earliest instant the presence may change without a write (a fade, an expiry, midnight); null: none. */
  nextDeadline: number | null;
}

/**
 * Brings a user's state up to `now` (D10): drops what expired, and bumps the
 * version when what the owner sees differs from the last change. The owner's
 * view is the most detailed one, so any change a reader can see changes it; a
 * write that changes nothing visible (a session refresh) gets no new number.
 */
export function settle(state: PresenceState, version: Version, now: number, fade: FadeTimings = DEFAULT_FADE): Settled {
  const live = withoutExpired(state, now);
  const visible = JSON.stringify(presenceView(live, now, "owner", "", fade));
  const previous = version.visible ?? JSON.stringify(presenceView(EMPTY_STATE, now, "owner", "", fade));
  const changed = visible !== previous;
  return {
    state: live,
    version: changed ? { counter: version.counter + 1, visible, changedAt: now } : version,
    changed,
    nextDeadline: nextDeadline(live, now, fade),
  };
}

/** The earliest of the instants given (null ones ignored); null when there is none. */
export function earliest(...instants: (number | null)[]): number | null {
  let found: number | null = null;
  for (const at of instants) if (at !== null && (found === null || at < found)) found = at;
  return found;
}

/**
 * What to do with the object's one alarm, armed at `armed`, when the next
 * thing due is at `wanted`: `"keep"` it, or set it to the instant (null:
 * delete it). An alarm already armed no later than `wanted` stays: when it
 * fires, the object settles and arms the true next instant. A session
 * refreshed every few minutes moves its deadlines later on every write, and
 * moving the alarm each time would cost a storage write per request, where an
 * early alarm costs one wake-up.
 */
export function alarmChange(armed: number | null, wanted: number | null): number | null | "keep" {
  if (armed === wanted) return "keep";
  if (wanted !== null && armed !== null && armed <= wanted) return "keep";
  return wanted;
}
