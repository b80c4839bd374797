import type { PresenceView } from "../domain/model";
import { WATCH_PROTOCOL } from "../domain/watch-messages";

/**
 * Headers the watch routes set when they forward an upgrade to an object,
 * after checking the caller. Clients never reach objects directly, and the
 * routes overwrite these, so a client cannot choose them.
 */
export const WATCH_HEADERS = {
  audience: "x-presence-audience",
  since: "x-presence-since",
  subprotocol: "x-presence-subprotocol",
  caller: "x-presence-caller",
} as const;

/**
 * `{"type":"presence","presence":{...},"changedDateTime":"..."}`, the message every watcher
 * receives. `changedDateTime` is when the presence last changed (its sequenceNumber was
 * bumped), in UTC; null for a user nobody has written.
 */
export function presenceMessage(userId: string, view: PresenceView, changedAt: number | null): string {
  return JSON.stringify({
    type: "presence",
    presence: { id: userId, ...view },
    changedDateTime: changedAt === null ? null : new Date(changedAt).toISOString(),
  });
}

/** Sends to an OPEN socket; a socket whose send throws is closed and dropped, nothing else is affected. */
export function sendOrDrop(ws: WebSocket, message: string): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  try {
    ws.send(message);
  } catch {
    closeQuietly(ws, 1011);
  }
}

/** Completes a close handshake; the runtime may already have done it. */
export function closeQuietly(ws: WebSocket, code: number): void {
  try {
    // 1005 and 1006 are reserved: they may be received but never sent.
    ws.close(code === 1005 || code === 1006 ? 1000 : code);
  } catch {
    // already closed
  }
}

/**
 * The one way an object accepts a watch socket forwarded by a watch route: for hibernation,
 * with its tags and attachment, `onAccepted` sending what it must say first, and the
 * `presence.v1` subprotocol answered when the client offered it. Anything but an upgrade is 426.
 */
export function acceptWatchSocket(
  ctx: DurableObjectState,
  request: Request,
  options: { tags?: string[]; attachment?: unknown },
  onAccepted: (socket: WebSocket) => void = () => {},
): Response {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("Expected a WebSocket upgrade from the watch route", { status: 426 });
  }
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  ctx.acceptWebSocket(server, options.tags);
  if (options.attachment !== undefined) server.serializeAttachment(options.attachment);
  onAccepted(server);
  const headers: Record<string, string> = {};
  if (request.headers.get(WATCH_HEADERS.subprotocol) !== null) headers["Sec-WebSocket-Protocol"] = WATCH_PROTOCOL;
  return new Response(null, { status: 101, webSocket: client, headers });
}
