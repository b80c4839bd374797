import type { Audience } from "../domain/model";
import type { Caller } from "./auth";
import { badRequest, forbidden } from "./errors";
import { parseUserId } from "./ids";

// Spec 1.1: which scopes (delegated) and roles (application) allow what.
const READ_OWN_SCOPES = ["Presence.Read", "Presence.Read.All", "Presence.ReadWrite"];
const READ_ANY_SCOPES = ["Presence.Read.All"];
const WRITE_OWN_SCOPES = ["Presence.ReadWrite"];
const READ_ANY_ROLES = ["Presence.Read.All", "Presence.ReadWrite.All"];
const WRITE_ANY_ROLES = ["Presence.ReadWrite.All"];

const hasAny = (granted: ReadonlySet<string>, wanted: string[]) => wanted.some((w) => granted.has(w));

/** The user a path names: `me` (delegated tokens only) or a GUID. */
export function targetUserId(caller: Caller, idOrMe: "me" | string): string {
  if (idOrMe !== "me") return parseUserId(idOrMe);
  // D24: Graph's own answer, word for word.
  if (caller.kind !== "delegated") throw badRequest("/me request is only valid with delegated authentication flow.");
  return caller.userId;
}

export function assertCanRead(caller: Caller, userId: string): void {
  if (caller.kind === "application") {
    if (!hasAny(caller.roles, READ_ANY_ROLES)) {
      throw forbidden("Reading presence needs the application permission Presence.Read.All or Presence.ReadWrite.All.");
    }
    return;
  }
  if (userId === caller.userId ? hasAny(caller.scopes, READ_OWN_SCOPES) : hasAny(caller.scopes, READ_ANY_SCOPES))
    return;
  throw forbidden(
    userId === caller.userId
      ? "Reading your presence needs the delegated permission Presence.Read."
      : "Reading another user's presence needs the delegated permission Presence.Read.All.",
  );
}

export function assertCanReadMany(caller: Caller): void {
  const allowed =
    caller.kind === "application" ? hasAny(caller.roles, READ_ANY_ROLES) : hasAny(caller.scopes, READ_ANY_SCOPES);
  if (!allowed) {
    throw forbidden(
      caller.kind === "application"
        ? "getPresencesByUserId needs the application permission Presence.Read.All or Presence.ReadWrite.All."
        : "getPresencesByUserId needs the delegated permission Presence.Read.All.",
    );
  }
}

export function assertCanWrite(caller: Caller, userId: string): void {
  if (caller.kind === "application") {
    if (!hasAny(caller.roles, WRITE_ANY_ROLES)) {
      throw forbidden("Changing presence needs the application permission Presence.ReadWrite.All.");
    }
    return;
  }
  if (userId !== caller.userId) {
    throw forbidden("A delegated token can only change the signed-in user's own presence.");
  }
  if (!hasAny(caller.scopes, WRITE_OWN_SCOPES)) {
    throw forbidden("Changing your presence needs the delegated permission Presence.ReadWrite.");
  }
}

// Mailbox settings (D13): delegated tokens for one's own, application tokens for anyone.
const MAILBOX_READ = ["MailboxSettings.Read", "MailboxSettings.ReadWrite"];
const MAILBOX_WRITE = ["MailboxSettings.ReadWrite"];

export function assertCanUseMailboxSettings(caller: Caller, userId: string, write: boolean): void {
  const wanted = write ? MAILBOX_WRITE : MAILBOX_READ;
  const kind = caller.kind === "application" ? "application" : "delegated";
  if (caller.kind === "delegated" && userId !== caller.userId) {
    throw forbidden("A delegated token can only use the signed-in user's own mailbox settings.");
  }
  const granted = caller.kind === "application" ? caller.roles : caller.scopes;
  if (!hasAny(granted, wanted)) {
    throw forbidden(
      `${write ? "Changing" : "Reading"} mailbox settings needs the ${kind} permission ${wanted.join(" or ")}.`,
    );
  }
}

/** D9: only the signed-in user reading themself sees the status message's times. */
export function audienceFor(caller: Caller, userId: string): Audience {
  return caller.kind === "delegated" && caller.userId === userId ? "owner" : "other";
}
