import { durationInRange, durations } from "./duration";
import { InvalidInput } from "./errors";
import type { PresencePair } from "./model";
import { PREFERRED_PAIRS, parsePair, SESSION_PAIRS } from "./pairs";
import { subMillisecondDigits, wallClockToInstant } from "./time-zones";

/** setPresence: one application's session, valid for `durationMs` (spec 1.4). */
export interface SetSessionCommand extends PresencePair {
  sessionId: string;
  durationMs: number;
}

/** setUserPreferredPresence (spec 1.6, D6). */
export interface SetPreferredCommand extends PresencePair {
  durationMs: number;
}

/**
 * setStatusMessage; `null` clears the message (D8). `expiresAtSubMs` holds the
 * expiry's digits below the millisecond as the caller wrote them (D28).
 */
export type SetStatusMessageCommand = { content: string; expiresAt: number | null; expiresAtSubMs?: string } | null;

const { MINUTE, HOUR, DAY } = durations;
export const STATUS_MESSAGE_MAX_LENGTH = 280;

export function toSetSessionCommand(body: {
  sessionId: string;
  availability: string;
  activity: string;
  expirationDuration?: string | null;
}): SetSessionCommand {
  const pair = parsePair(body.availability, body.activity, SESSION_PAIRS);
  const durationMs = durationInRange(
    "expirationDuration",
    body.expirationDuration,
    5 * MINUTE,
    5 * MINUTE,
    4 * HOUR,
    "PT5M and PT4H",
  );
  return { sessionId: body.sessionId.toLowerCase(), ...pair, durationMs };
}

export function toSetPreferredCommand(body: {
  availability: string;
  activity: string;
  expirationDuration?: string | null;
}): SetPreferredCommand {
  const pair = parsePair(body.availability, body.activity, PREFERRED_PAIRS);
  // D6: busy states default to a day, the rest to a week.
  const fallback = pair.availability === "Busy" || pair.availability === "DoNotDisturb" ? DAY : 7 * DAY;
  const durationMs = durationInRange(
    "expirationDuration",
    body.expirationDuration,
    fallback,
    5 * MINUTE,
    7 * DAY,
    "PT5M and P7D",
  );
  return { ...pair, durationMs };
}

export interface StatusMessageInput {
  message?: { content?: string | null; contentType?: string | null } | null;
  expiryDateTime?: { dateTime: string; timeZone?: string | null } | null;
}

/** D8, D9, D12: validates a status message and turns its expiry into an instant. */
export function toSetStatusMessageCommand(input: StatusMessageInput | null, now: number): SetStatusMessageCommand {
  const contentType = input?.message?.contentType;
  if (contentType !== undefined && contentType !== null && contentType.toLowerCase() !== "text") {
    throw new InvalidInput(`statusMessage.message.contentType '${contentType}' is not supported: only 'text' is.`);
  }
  const content = input?.message?.content;
  if (!input?.message || content === undefined || content === null || content === "") return null;
  const length = [...content].length;
  if (length > STATUS_MESSAGE_MAX_LENGTH) {
    throw new InvalidInput(
      `statusMessage.message.content is ${length} characters long; at most ${STATUS_MESSAGE_MAX_LENGTH} are allowed.`,
    );
  }
  if (!input.expiryDateTime) return { content, expiresAt: null };
  const expiresAt = wallClockToInstant(input.expiryDateTime, "statusMessage.expiryDateTime");
  if (expiresAt <= now) {
    throw new InvalidInput("statusMessage.expiryDateTime is in the past: the message would never be shown.");
  }
  return { content, expiresAt, expiresAtSubMs: subMillisecondDigits(input.expiryDateTime.dateTime) };
}
