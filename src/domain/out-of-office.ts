import type { Activity, MailboxSettings, OutOfOfficeSettingsView, PresencePair } from "./model";

/**
 * Spec 3.4, D13: out of office while automatic replies are always on, or
 * scheduled and `now` is inside [start, end). The message is the internal
 * reply message, shown while out of office.
 */
export function outOfOfficeAt(settings: MailboxSettings, now: number): OutOfOfficeSettingsView {
  const replies = settings.automaticRepliesSetting;
  const start = replies.scheduledStartDateTime?.at;
  const end = replies.scheduledEndDateTime?.at;
  const isOutOfOffice =
    replies.status === "alwaysEnabled" ||
    (replies.status === "scheduled" && start !== undefined && end !== undefined && start <= now && now < end);
  return { message: isOutOfOffice ? replies.internalReplyMessage || null : null, isOutOfOffice };
}

/** D13: activities that stay visible while out of office (a call or meeting says more). */
const KEPT_WHILE_OUT_OF_OFFICE: ReadonlySet<Activity> = new Set([
  "InACall",
  "InAConferenceCall",
  "InAMeeting",
  "Presenting",
  "PresenceUnknown",
  "UrgentInterruptionsOnly",
  "OutOfOffice",
]);

export function overlayOutOfOffice(pair: PresencePair, isOutOfOffice: boolean): PresencePair {
  if (!isOutOfOffice || KEPT_WHILE_OUT_OF_OFFICE.has(pair.activity)) return pair;
  return { availability: pair.availability, activity: "OutOfOffice" };
}

/** The window's edges still ahead of `now`: the presence changes at those instants. */
export function outOfOfficeDeadlines(settings: MailboxSettings, now: number): number[] {
  const replies = settings.automaticRepliesSetting;
  if (replies.status !== "scheduled") return [];
  return [replies.scheduledStartDateTime?.at, replies.scheduledEndDateTime?.at].filter(
    (t): t is number => t !== undefined && t > now,
  );
}
