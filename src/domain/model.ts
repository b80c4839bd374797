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
}

/** Everything stored for one user that the visible presence is computed from. */
export interface PresenceState {
  sessions: PresenceSession[];
  preferred: PreferredPresence | null;
  statusMessage: StatusMessage | null;
}

export const EMPTY_STATE: PresenceState = Object.freeze({
  sessions: [],
  preferred: null,
  statusMessage: null,
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
  workLocationType: "unspecified" | "office" | "remote" | "timeOff";
  source: "none" | "manual" | "scheduled" | "automatic";
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
