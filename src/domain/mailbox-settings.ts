import { InvalidInput } from "./errors";
import {
  AUTOMATIC_REPLIES_STATUSES,
  type AutomaticRepliesStatus,
  EXTERNAL_AUDIENCES,
  type ExternalAudience,
  type MailboxSettings,
  type ScheduledInstant,
} from "./model";
import { resolveTimeZone, wallClockToInstant } from "./time-zones";

type DateTimeTimeZoneInput = { dateTime: string; timeZone?: string | null };

/** A PATCH of mailboxSettings: only the properties given change (D13, D14). */
export interface MailboxSettingsPatch {
  timeZone?: string;
  automaticRepliesSetting?: {
    status?: string;
    externalAudience?: string;
    scheduledStartDateTime?: DateTimeTimeZoneInput | null;
    scheduledEndDateTime?: DateTimeTimeZoneInput | null;
    internalReplyMessage?: string | null;
    externalReplyMessage?: string | null;
  };
  /** Graph's other properties (shape checked by `PatchMailboxSettingsBody`), stored as given. */
  [property: string]: unknown;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The properties this service does not interpret, patched as OData patches
 * complex values: a property given replaces the stored one, except that an
 * object is merged one level deep (a PATCH of `workingHours.startTime` keeps
 * `daysOfWeek`).
 */
function mergeOther(current: Record<string, unknown> | undefined, patch: MailboxSettingsPatch) {
  const merged: Record<string, unknown> = { ...current };
  for (const [property, value] of Object.entries(patch)) {
    if (property === "timeZone" || property === "automaticRepliesSetting" || value === undefined) continue;
    const was = merged[property];
    merged[property] = isPlainObject(value) && isPlainObject(was) ? { ...was, ...value } : value;
  }
  return merged;
}

/** D28: every presence read carries the message, so it is bounded (Graph documents no limit). */
export const REPLY_MESSAGE_MAX_LENGTH = 8000;

function replyMessage(name: string, value: string | null | undefined, current: string): string {
  if (value === undefined) return current;
  if (value !== null && value.length > REPLY_MESSAGE_MAX_LENGTH) {
    throw new InvalidInput(`automaticRepliesSetting.${name} may be at most ${REPLY_MESSAGE_MAX_LENGTH} characters.`);
  }
  return value ?? "";
}

function parseEnum<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!found) throw new InvalidInput(`${name} '${value}' is not supported: use one of ${allowed.join(", ")}.`);
  return found;
}

function scheduled(name: string, value: DateTimeTimeZoneInput | null | undefined, current: ScheduledInstant | null) {
  if (value === undefined) return current;
  if (value === null) return null;
  const at = wallClockToInstant(value, name);
  return { dateTime: value.dateTime.trim(), timeZone: value.timeZone?.trim() || "UTC", at };
}

/**
 * Applies `patch` to `current` and checks the result: a known time zone, known
 * enum values, and a scheduled window with both ends, the end after the start.
 */
export function mergeMailboxSettings(current: MailboxSettings, patch: MailboxSettingsPatch): MailboxSettings {
  let timeZone = current.timeZone;
  if (patch.timeZone !== undefined) {
    resolveTimeZone(patch.timeZone); // throws on an unknown zone
    if (patch.timeZone.trim() === "") throw new InvalidInput("timeZone must not be empty.");
    timeZone = patch.timeZone.trim();
  }
  const was = current.automaticRepliesSetting;
  const p = patch.automaticRepliesSetting ?? {};
  const replies = {
    status:
      p.status === undefined
        ? was.status
        : parseEnum<AutomaticRepliesStatus>("automaticRepliesSetting.status", p.status, AUTOMATIC_REPLIES_STATUSES),
    externalAudience:
      p.externalAudience === undefined
        ? was.externalAudience
        : parseEnum<ExternalAudience>(
            "automaticRepliesSetting.externalAudience",
            p.externalAudience,
            EXTERNAL_AUDIENCES,
          ),
    scheduledStartDateTime: scheduled(
      "automaticRepliesSetting.scheduledStartDateTime",
      p.scheduledStartDateTime,
      was.scheduledStartDateTime,
    ),
    scheduledEndDateTime: scheduled(
      "automaticRepliesSetting.scheduledEndDateTime",
      p.scheduledEndDateTime,
      was.scheduledEndDateTime,
    ),
    internalReplyMessage: replyMessage("internalReplyMessage", p.internalReplyMessage, was.internalReplyMessage),
    externalReplyMessage: replyMessage("externalReplyMessage", p.externalReplyMessage, was.externalReplyMessage),
  };
  if (replies.status === "scheduled") {
    const { scheduledStartDateTime: start, scheduledEndDateTime: end } = replies;
    if (!start || !end) {
      throw new InvalidInput(
        "automaticRepliesSetting.status 'scheduled' needs both scheduledStartDateTime and scheduledEndDateTime.",
      );
    }
    if (end.at <= start.at) {
      throw new InvalidInput("automaticRepliesSetting.scheduledEndDateTime must be after scheduledStartDateTime.");
    }
  }
  const other = mergeOther(current.other, patch);
  return { timeZone, automaticRepliesSetting: replies, ...(Object.keys(other).length > 0 ? { other } : {}) };
}

/** mailboxSettings as Graph returns it: the two properties this service owns, then the others as stored. */
export function mailboxSettingsView(settings: MailboxSettings) {
  const r = settings.automaticRepliesSetting;
  const instant = (s: ScheduledInstant | null) => (s ? { dateTime: s.dateTime, timeZone: s.timeZone } : null);
  return {
    timeZone: settings.timeZone,
    automaticRepliesSetting: {
      status: r.status,
      externalAudience: r.externalAudience,
      scheduledStartDateTime: instant(r.scheduledStartDateTime),
      scheduledEndDateTime: instant(r.scheduledEndDateTime),
      internalReplyMessage: r.internalReplyMessage,
      externalReplyMessage: r.externalReplyMessage,
    },
    ...settings.other,
  };
}
