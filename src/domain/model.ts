/**
 * The presence vocabulary of Microsoft Graph (spec section 2.3, decision D1).
 * Values are emitted in PascalCase and accepted in any case.
 */
export const AVAILABILITIES = [
  "Available",
  "AvailableIdle",
  "Away",
  "BeRightBack",
  "Busy",
  "BusyIdle",
  "DoNotDisturb",
  "Offline",
  "PresenceUnknown",
] as const;
export type Availability = (typeof AVAILABILITIES)[number];

export const ACTIVITIES = [
  "Available",
  "Away",
  "BeRightBack",
  "Busy",
  "DoNotDisturb",
  "InACall",
  "InAConferenceCall",
  "Inactive",
  "InAMeeting",
  "Offline",
  "OffWork",
  "OutOfOffice",
  "PresenceUnknown",
  "Presenting",
  "UrgentInterruptionsOnly",
] as const;
export type Activity = (typeof ACTIVITIES)[number];

export interface PresencePair {
  availability: Availability;
  activity: Activity;
}

/** One application's presence session (spec 3.1); `sessionId` is the app id. */
export interface PresenceSession extends PresencePair {
  sessionId: string;
  /** When the session was last set or refreshed (epoch ms); fades count from here. */
  refreshedAt: number;
  /** When the session disappears (epoch ms). */
  expiresAt: number;
}

/** The user's own choice, overriding the sessions while one is live (D6). */
export interface PreferredPresence extends PresencePair {
  setAt: number;
  expiresAt: number;
}

export interface StatusMessage {
  content: string;
  /** Server time of the `setStatusMessage` call (epoch ms). */
  publishedAt: number;
  /** When the message disappears (epoch ms); null means never. */
  expiresAt: number | null;
  /** The expiry's four digits below the millisecond, as the caller wrote them (D28); absent means "0000". */
  expiresAtSubMs?: string;
}

export const WORK_LOCATION_TYPES = ["unspecified", "office", "remote", "timeOff"] as const;
export type WorkLocationType = (typeof WORK_LOCATION_TYPES)[number];
export type WorkLocationLayer = "manual" | "automatic";

/**
 * One work-location signal (spec 3.5, D15). It belongs to the user's local
 * date on which it was set and vanishes at that date's local midnight.
 */
export interface WorkLocationSignal {
  layer: WorkLocationLayer;
  /** Who set it: the manual layer has one slot (""), the automatic layer one per application. */
  source: string;
  workLocationType: WorkLocationType;
  placeId: string | null;
  /** The user's local date (YYYY-MM-DD) when it was set. */
  localDate: string;
  setAt: number;
}

export const AUTOMATIC_REPLIES_STATUSES = ["disabled", "alwaysEnabled", "scheduled"] as const;
export type AutomaticRepliesStatus = (typeof AUTOMATIC_REPLIES_STATUSES)[number];
export const EXTERNAL_AUDIENCES = ["none", "contactsOnly", "all"] as const;
export type ExternalAudience = (typeof EXTERNAL_AUDIENCES)[number];

/** A scheduled instant, kept as the caller wrote it and as the instant it means. */
export interface ScheduledInstant {
  dateTime: string;
  timeZone: string;
  at: number;
}

/** The part of Graph's mailboxSettings this service owns (D13, D14). */
export interface MailboxSettings {
  /** Windows or IANA name, as the caller wrote it. */
  timeZone: string;
  automaticRepliesSetting: {
    status: AutomaticRepliesStatus;
    externalAudience: ExternalAudience;
    scheduledStartDateTime: ScheduledInstant | null;
    scheduledEndDateTime: ScheduledInstant | null;
    internalReplyMessage: string;
    externalReplyMessage: string;
  };
  /**
   * Graph's other mailboxSettings properties (workingHours, language,
   * dateFormat, ...), stored as the caller gave them and never interpreted;
   * their shape is checked by `PatchMailboxSettingsBody`.
   */
  other?: Record<string, unknown>;
}

export const DEFAULT_MAILBOX_SETTINGS: MailboxSettings = Object.freeze({
  timeZone: "UTC",
  automaticRepliesSetting: Object.freeze({
    status: "disabled",
    externalAudience: "all",
    scheduledStartDateTime: null,
    scheduledEndDateTime: null,
    internalReplyMessage: "",
    externalReplyMessage: "",
  }),
}) as MailboxSettings;

/** Everything stored for one user that the visible presence is computed from. */
export interface PresenceState {
  sessions: PresenceSession[];
  preferred: PreferredPresence | null;
  statusMessage: StatusMessage | null;
  workLocationSignals: WorkLocationSignal[];
  mailboxSettings: MailboxSettings;
}

export const EMPTY_STATE: PresenceState = Object.freeze({
  sessions: [],
  preferred: null,
  statusMessage: null,
  workLocationSignals: [],
  mailboxSettings: DEFAULT_MAILBOX_SETTINGS,
}) as PresenceState;

/** `dateTimeTimeZone` as Graph writes it. */
export interface DateTimeTimeZone {
  dateTime: string;
  timeZone: string;
}

export interface StatusMessageView {
  message: { content: string; contentType: "text" };
  expiryDateTime?: DateTimeTimeZone | null;
  publishedDateTime?: string;
}

export interface OutOfOfficeSettingsView {
  message: string | null;
  isOutOfOffice: boolean;
}

export interface WorkLocationView {
  workLocationType: WorkLocationType;
  source: "none" | WorkLocationLayer;
  placeId: string | null;
}

/** The presence resource as a reader sees it, less `id` and `@odata.context`. */
export interface PresenceView {
  availability: Availability;
  activity: Activity;
  statusMessage: StatusMessageView | null;
  outOfOfficeSettings: OutOfOfficeSettingsView;
  workLocation: WorkLocationView;
  sequenceNumber: string;
}

/**
 * Who is reading: the user themself sees the status message's expiry and
 * publication time; anyone else sees only the message (D9).
 */
export type Audience = "owner" | "other";
