import type { Context } from "hono";
import { WATCH_PROTOCOL } from "../domain/watch-messages";
import { serializeCaller } from "../http/auth";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest, GraphError } from "../http/errors";
import { assertCanRead, audienceFor, targetUserId } from "../http/permissions";
import { userPresenceStub } from "../objects/user-stub";
import { WATCH_HEADERS } from "../objects/watch-forwarding";
import type { UserIdOf } from "./presence";

type Ctx = Context<AppEnv>;

/**
 * Browsers cannot set headers on a WebSocket, so they may offer the token as
 * a subprotocol: `new WebSocket(url, ["presence.v1", "bearer." + token])`. The
 * answer names only `presence.v1`; the token is never echoed, and never taken
 * from the URL.
 */
function bearerFromSubprotocols(c: Ctx): { authorization: string | undefined; viaSubprotocol: boolean } {
  const offered = (c.req.header("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const bearer = offered.find((p) => p.startsWith("bearer."));
  if (!bearer)
    return { authorization: c.req.header("authorization"), viaSubprotocol: offered.includes(WATCH_PROTOCOL) };
  if (!offered.includes(WATCH_PROTOCOL)) {
    throw badRequest(`Offer the subprotocol '${WATCH_PROTOCOL}' beside the 'bearer.<token>' one.`);
  }
  return { authorization: `Bearer ${bearer.slice("bearer.".length)}`, viaSubprotocol: true };
}

/** Checks the upgrade and the caller; a refusal is an HTTP error with the Graph envelope, not a socket. */
async function watcher(c: Ctx) {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new GraphError(426, "UpgradeRequired", "This endpoint is a WebSocket: send 'Upgrade: websocket'.", {
      Upgrade: "websocket",
    });
  }
  const { authorization, viaSubprotocol } = bearerFromSubprotocols(c);
  // Opening a watch counts as a read against the caller's limits (D20).
  const caller = await requireCaller(c, "read", authorization);
  return { caller, viaSubprotocol };
}

/** The upgrade request as forwarded to an object: only what the object needs, set by us. */
function forwarded(c: Ctx, headers: Record<string, string>, viaSubprotocol: boolean): Request {
  const out = new Headers({ upgrade: "websocket", ...headers });
  if (viaSubprotocol) out.set(WATCH_HEADERS.subprotocol, "1");
  return new Request(c.req.url, { method: "GET", headers: out });
}

const SEQUENCE_NUMBER = /^\d{1,20}$/;

/** One user: the socket lives in the user's own object. */
export const watchUserPresence = (idOf: UserIdOf) => async (c: Ctx) => {
  const { caller, viaSubprotocol } = await watcher(c);
  const userId = targetUserId(caller, idOf(c));
  assertCanRead(caller, userId);
  const since = c.req.query("since");
  if (since !== undefined && !SEQUENCE_NUMBER.test(since)) {
    throw badRequest("since must be a sequenceNumber you received (digits).");
  }
  const headers: Record<string, string> = { [WATCH_HEADERS.audience]: audienceFor(caller, userId) };
  if (since !== undefined) headers[WATCH_HEADERS.since] = since.padStart(20, "0");
  return userPresenceStub(c.env, caller.tenantId, userId).fetch(forwarded(c, headers, viaSubprotocol));
};

/** Many users: the socket lives in a hub object of its own, which the watched users notify. */
export async function watchPresences(c: Ctx) {
  const { caller, viaSubprotocol } = await watcher(c);
  const hub = c.env.PRESENCE_HUB.get(c.env.PRESENCE_HUB.newUniqueId());
  return hub.fetch(forwarded(c, { [WATCH_HEADERS.caller]: serializeCaller(caller) }, viaSubprotocol));
}
