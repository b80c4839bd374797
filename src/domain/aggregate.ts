import { durations } from "./duration";
import type {
  Audience,
  Availability,
  PresencePair,
  PresenceSession,
  PresenceState,
  PresenceView,
  StatusMessage,
  StatusMessageView,
} from "./model";
import { outOfOfficeAt, outOfOfficeDeadlines, overlayOutOfOffice } from "./out-of-office";
import { toUtcDateTimeTimeZone } from "./time-zones";
import { aggregateWorkLocation, localDateAt, localMidnightAfter } from "./work-location";

/** D5: an Available session not refreshed for 5 minutes shows idle, after 10 minutes away. */
export const IDLE_AFTER_MS = 5 * durations.MINUTE;
export const AWAY_AFTER_MS = 10 * durations.MINUTE;

/** The fade steps. Production always uses D5's; a test-only configuration may shorten them. */
export interface FadeTimings {
  idleAfterMs: number;
  awayAfterMs: number;
}
export const DEFAULT_FADE: FadeTimings = Object.freeze({ idleAfterMs: IDLE_AFTER_MS, awayAfterMs: AWAY_AFTER_MS });

/** D4: the rank of a live session's availability; higher wins. */
const RANK: Partial<Record<Availability, number>> = {
  DoNotDisturb: 7,
  Busy: 6,
  BusyIdle: 5,
  Available: 4,
  AvailableIdle: 3,
  BeRightBack: 2,
  Away: 1,
};

const OFFLINE: PresencePair = { availability: "Offline", activity: "Offline" };

export function isSessionLive(session: PresenceSession, now: number): boolean {
  return session.expiresAt > now;
}

/** What a live session shows at `now`, after the idle fade of D5. */
export function sessionPresenceAt(session: PresenceSession, now: number, fade = DEFAULT_FADE): PresencePair {
  if (session.availability !== "Available") return { availability: session.availability, activity: session.activity };
  const idleFor = now - session.refreshedAt;
  if (idleFor >= fade.awayAfterMs) return { availability: "Away", activity: "Away" };
  if (idleFor >= fade.idleAfterMs) return { availability: "AvailableIdle", activity: "Inactive" };
  return { availability: "Available", activity: "Available" };
}

/**
 * The aggregated (availability, activity) at `now` (spec 3.1, D4, D6): no live
 * session is Offline; a live preferred presence overrides the sessions while
 * at least one is live; otherwise the highest-ranked session wins, and among
 * equals the one set most recently.
 */
export function aggregatePresence(state: PresenceState, now: number, fade = DEFAULT_FADE): PresencePair {
  let best: { pair: PresencePair; rank: number; refreshedAt: number } | null = null;
  for (const session of state.sessions) {
    if (!isSessionLive(session, now)) continue;
    const pair = sessionPresenceAt(session, now, fade);
    const rank = RANK[pair.availability] ?? 0;
    if (!best || rank > best.rank || (rank === best.rank && session.refreshedAt > best.refreshedAt)) {
      best = { pair, rank, refreshedAt: session.refreshedAt };
    }
  }
  if (!best) return { ...OFFLINE };
  const preferred = state.preferred;
  if (preferred && preferred.expiresAt > now) {
    return { availability: preferred.availability, activity: preferred.activity };
  }
  return best.pair;
}

export function isStatusMessageLive(message: StatusMessage, now: number): boolean {
  return message.expiresAt === null || message.expiresAt > now;
}

function statusMessageView(message: StatusMessage | null, now: number, audience: Audience): StatusMessageView | null {
  if (!message || !isStatusMessageLive(message, now)) return null;
  const view: StatusMessageView = { message: { content: message.content, contentType: "text" } };
  if (audience === "owner") {
    view.expiryDateTime =
      message.expiresAt === null ? null : toUtcDateTimeTimeZone(message.expiresAt, message.expiresAtSubMs);
    view.publishedDateTime = new Date(message.publishedAt).toISOString();
  }
  return view;
}

/** The presence resource at `now` as `audience` may see it, with the given sequence number. */
export function presenceView(
  state: PresenceState,
  now: number,
  audience: Audience,
  sequenceNumber: string,
  fade = DEFAULT_FADE,
): PresenceView {
  const outOfOfficeSettings = outOfOfficeAt(state.mailboxSettings, now);
  return {
    ...overlayOutOfOffice(aggregatePresence(state, now, fade), outOfOfficeSettings.isOutOfOffice),
    statusMessage: statusMessageView(state.statusMessage, now, audience),
    outOfOfficeSettings,
    workLocation: aggregateWorkLocation(state.workLocationSignals, localDateAt(now, state.mailboxSettings.timeZone)),
    sequenceNumber,
  };
}

/**
 * The earliest instant after `now` at which the visible presence may change
 * on its own: a fade step, a session's expiry, the preferred presence's expiry,
 * the status message's expiry, an out-of-office window's start or end, or the
 * local midnight that ends a work-location signal. Null when nothing is due,
 * so no alarm is set.
 */
export function nextDeadline(state: PresenceState, now: number, fade = DEFAULT_FADE): number | null {
  const candidates: number[] = [];
  for (const session of state.sessions) {
    candidates.push(session.expiresAt);
    if (session.availability === "Available") {
      candidates.push(session.refreshedAt + fade.idleAfterMs, session.refreshedAt + fade.awayAfterMs);
    }
  }
  if (state.preferred) candidates.push(state.preferred.expiresAt);
  if (state.statusMessage?.expiresAt) candidates.push(state.statusMessage.expiresAt);
  candidates.push(...outOfOfficeDeadlines(state.mailboxSettings, now));
  for (const date of new Set(state.workLocationSignals.map((s) => s.localDate))) {
    candidates.push(localMidnightAfter(date, state.mailboxSettings.timeZone));
  }
  const future = candidates.filter((t) => t > now);
  return future.length === 0 ? null : Math.min(...future);
}
