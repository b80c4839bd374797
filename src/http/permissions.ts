import type { Caller } from "../domain/caller";
import {
  canRead,
  canReadMany,
  canSubscribe,
  canUseMailboxSettings,
  canWrite,
  MAILBOX_READ,
  MAILBOX_WRITE,
} from "../domain/permissions";
import { badRequest, forbidden } from "./errors";
import { parseUserId } from "./ids";

// The permission predicates (domain/permissions.ts) as HTTP answers: a 403 that says what is missing.

export { audienceFor } from "../domain/permissions";

/** The user a path names: `me` (delegated tokens only) or a GUID. */
export function targetUserId(caller: Caller, idOrMe: "me" | string): string {
  if (idOrMe !== "me") return parseUserId(idOrMe);
  // D24: Graph's own answer, word for word.
  if (caller.kind !== "delegated") throw badRequest("/me request is only valid with delegated authentication flow.");
  return caller.userId;
}

export function assertCanRead(caller: Caller, userId: string): void {
  if (canRead(caller, userId)) return;
  throw forbidden(
    caller.kind === "application"
      ? "Reading presence needs the application permission Presence.Read.All or Presence.ReadWrite.All."
      : userId === caller.userId
        ? "Reading your presence needs the delegated permission Presence.Read."
        : "Reading another user's presence needs the delegated permission Presence.Read.All.",
  );
}

export function assertCanReadMany(caller: Caller): void {
  if (canReadMany(caller)) return;
  throw forbidden(
    caller.kind === "application"
      ? "getPresencesByUserId needs the application permission Presence.Read.All or Presence.ReadWrite.All."
      : "getPresencesByUserId needs the delegated permission Presence.Read.All.",
  );
}

export function assertCanWrite(caller: Caller, userId: string): void {
  if (canWrite(caller, userId)) return;
  throw forbidden(
    caller.kind === "application"
      ? "Changing presence needs the application permission Presence.ReadWrite.All."
      : userId !== caller.userId
        ? "A delegated token can only change the signed-in user's own presence."
        : "Changing your presence needs the delegated permission Presence.ReadWrite.",
  );
}

export function assertCanUseMailboxSettings(caller: Caller, userId: string, write: boolean): void {
  if (canUseMailboxSettings(caller, userId, write)) return;
  if (caller.kind === "delegated" && userId !== caller.userId) {
    throw forbidden("A delegated token can only use the signed-in user's own mailbox settings.");
  }
  const wanted = write ? MAILBOX_WRITE : MAILBOX_READ;
  throw forbidden(
    `${write ? "Changing" : "Reading"} mailbox settings needs the ${caller.kind} permission ${wanted.join(" or ")}.`,
  );
}

/** Delegated Presence.Read.All as in Graph, and (D17, beyond Graph) the application permission. */
export function assertCanSubscribe(caller: Caller): void {
  if (canSubscribe(caller)) return;
  throw forbidden(
    caller.kind === "delegated"
      ? "Presence subscriptions need the delegated permission Presence.Read.All."
      : "Presence subscriptions need the application permission Presence.Read.All.",
  );
}
