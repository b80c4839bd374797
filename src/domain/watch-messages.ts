import * as v from "valibot";
import { parseUntrustedJson } from "../shared/untrusted-json";
import { InvalidInput } from "./errors";
import { GUID } from "./ids";

/** The subprotocol a watcher negotiates; browsers send their token beside it as `bearer.<JWT>`. */
export const WATCH_PROTOCOL = "presence.v1";
/** Client messages larger than this are refused (and the socket stays open). */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;
/** As many users per socket as a Graph subscription may hold. */
export const MAX_WATCHED_USERS = 650;

const UserIds = v.pipe(
  v.array(v.pipe(v.string(), v.regex(GUID, "ids must be user ids (GUIDs)"))),
  v.minLength(1, "ids must not be empty"),
  v.maxLength(MAX_WATCHED_USERS, `ids may hold at most ${MAX_WATCHED_USERS} users`),
);

/**
 * What a client sends on a multi-user watch socket. `since` maps a user id to
 * the last sequenceNumber the client saw, so a reconnecting client is sent
 * only the users that changed meanwhile.
 */
export const ClientMessage = v.variant("type", [
  v.strictObject({
    type: v.literal("subscribe"),
    ids: UserIds,
    since: v.optional(
      v.record(v.string(), v.pipe(v.string(), v.regex(/^\d{1,20}$/, "since values are sequenceNumbers"))),
    ),
  }),
  v.strictObject({ type: v.literal("unsubscribe"), ids: UserIds }),
  // D27: a fresh token for the same tenant, application and user extends the socket's life.
  v.strictObject({ type: v.literal("reauthorize"), token: v.pipe(v.string(), v.maxLength(16 * 1024)) }),
]);
export type ClientMessage = v.InferOutput<typeof ClientMessage>;

/** Parses a raw client message, or says what is wrong with it. */
export function parseClientMessage(raw: string | ArrayBuffer): ClientMessage | { error: string } {
  const size = typeof raw === "string" ? new TextEncoder().encode(raw).byteLength : raw.byteLength;
  if (size > MAX_CLIENT_MESSAGE_BYTES) return { error: `Messages may be at most ${MAX_CLIENT_MESSAGE_BYTES} bytes.` };
  if (typeof raw !== "string") return { error: "Messages must be JSON text, not binary." };
  let json: unknown;
  try {
    // D28: frames are untrusted text, as bodies are: no deep nesting, prototype keys or lone surrogates.
    json = parseUntrustedJson(raw, "The message");
  } catch (error) {
    if (error instanceof InvalidInput) return { error: error.message };
    throw error;
  }
  const result = v.safeParse(ClientMessage, json);
  if (result.success) return result.output;
  const [issue] = result.issues;
  if (issue?.type === "variant" || issue?.path?.[0]?.key === "type") {
    return {
      error:
        'Unknown message type: send {"type":"subscribe","ids":[...]}, {"type":"unsubscribe","ids":[...]} or {"type":"reauthorize","token":"..."}.',
    };
  }
  const path = (issue?.path ?? []).map((p) => String(p.key)).join(".");
  return { error: `Invalid message${path ? ` at '${path}'` : ""}: ${issue?.message ?? "unexpected shape"}.` };
}

/** Messages the service sends. */
export type ServerMessage =
  | {
      type: "presence";
      presence: Record<string, unknown> & { id: string; sequenceNumber: string };
      /** When the presence last changed (UTC ISO); null for a user nobody has written. */
      changedDateTime: string | null;
    }
  | { type: "subscribed"; ids: string[] }
  | { type: "unsubscribed"; ids: string[] }
  | { type: "reauthorized"; expirationDateTime: string }
  | { type: "error"; code: WatchErrorCode; message: string; ids?: string[]; retryAfterSeconds?: number };

/**
 * Why a frame was refused. `tokenExpired` and `tooManyInvalidMessages` come just before the
 * server closes the socket with 1008; the others leave it open.
 */
export type WatchErrorCode =
  | "invalidMessage"
  | "forbidden"
  | "tooManyUsers"
  | "throttled"
  | "reauthorizeFailed"
  | "unavailable"
  | "tokenExpired"
  | "tooManyInvalidMessages";

/** An error frame, as text. */
export function errorMessage(
  code: WatchErrorCode,
  message: string,
  extra: { ids?: string[]; retryAfterSeconds?: number } = {},
) {
  return JSON.stringify({ type: "error", code, message, ...extra } satisfies ServerMessage);
}
