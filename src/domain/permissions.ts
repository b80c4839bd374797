import type { Caller } from "./caller";
import type { Audience } from "./model";

// Spec 1.1: which scopes (delegated) and roles (application) allow what, as plain predicates.
// The HTTP layer (http/permissions.ts) turns a false into a 403 with a message; the watch hubs
// use them as they are.
const READ_OWN_SCOPES = ["Presence.Read", "Presence.Read.All", "Presence.ReadWrite"];
const READ_ANY_SCOPES = ["Presence.Read.All"];
const WRITE_OWN_SCOPES = ["Presence.ReadWrite"];
const READ_ANY_ROLES = ["Presence.Read.All", "Presence.ReadWrite.All"];
const WRITE_ANY_ROLES = ["Presence.ReadWrite.All"];
// Mailbox settings (D13): delegated tokens for one's own, application tokens for anyone.
export const MAILBOX_READ = ["MailboxSettings.Read", "MailboxSettings.ReadWrite"];
export const MAILBOX_WRITE = ["MailboxSettings.ReadWrite"];
// Subscriptions: delegated Presence.Read.All as in Graph, and (D17, beyond Graph) the application roles.
const SUBSCRIBE_SCOPES = ["Presence.Read.All"];
const SUBSCRIBE_ROLES = READ_ANY_ROLES;

const hasAny = (granted: ReadonlySet<string>, wanted: readonly string[]) => wanted.some((w) => granted.has(w));

export function canRead(caller: Caller, userId: string): boolean {
  if (caller.kind === "application") return hasAny(caller.roles, READ_ANY_ROLES);
  return hasAny(caller.scopes, userId === caller.userId ? READ_OWN_SCOPES : READ_ANY_SCOPES);
}

/** getPresencesByUserId: reading anyone. */
export function canReadMany(caller: Caller): boolean {
  return caller.kind === "application" ? hasAny(caller.roles, READ_ANY_ROLES) : hasAny(caller.scopes, READ_ANY_SCOPES);
}

export function canWrite(caller: Caller, userId: string): boolean {
  if (caller.kind === "application") return hasAny(caller.roles, WRITE_ANY_ROLES);
  return userId === caller.userId && hasAny(caller.scopes, WRITE_OWN_SCOPES);
}

export function canUseMailboxSettings(caller: Caller, userId: string, write: boolean): boolean {
  const wanted = write ? MAILBOX_WRITE : MAILBOX_READ;
  if (caller.kind === "application") return hasAny(caller.roles, wanted);
  return userId === caller.userId && hasAny(caller.scopes, wanted);
}

export function canSubscribe(caller: Caller): boolean {
  return caller.kind === "application"
    ? hasAny(caller.roles, SUBSCRIBE_ROLES)
    : hasAny(caller.scopes, SUBSCRIBE_SCOPES);
}

/** D9: only the signed-in user reading themself sees the status message's times. */
export function audienceFor(caller: Caller, userId: string): Audience {
  return caller.kind === "delegated" && caller.userId === userId ? "owner" : "other";
}
