import { WATCH_PROTOCOL } from "../domain/watch-messages";

/**
 * Headers the watch routes set when they forward an upgrade to a hub, after checking the
 * caller. Clients never reach objects directly, and the routes overwrite these, so a client
 * cannot choose them.
 */
export const WATCH_HEADERS = {
  /** The verified caller (domain/caller.ts, serialized). */
  caller: "x-presence-caller",
  /** A single-user socket: the one user it watches, and what its reader may see. */
  user: "x-presence-user",
  audience: "x-presence-audience",
  /** The last sequenceNumber the client has of that user (resume). */
  since: "x-presence-since",
  /** The client offered the `presence.v1` subprotocol. */
  subprotocol: "x-presence-subprotocol",
} as const;

/** A hub that already holds all the sockets it may answers 503 with this header; the route tries another. */
export const HUB_FULL_HEADER = "x-presence-hub-full";

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
export function closeQuietly(ws: WebSocket, code: number, reason?: string): void {
  try {
    // 1005 and 1006 are reserved: they may be received but never sent.
    ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  } catch {
    // already closed
  }
}

/**
 * The one way an object accepts a watch socket forwarded by a watch route: for hibernation,
 * with its attachment, `onAccepted` sending what it must say first, and the `presence.v1`
 * subprotocol answered when the client offered it. Anything but an upgrade is 426.
 */
export async function acceptWatchSocket(
  ctx: DurableObjectState,
  request: Request,
  options: { attachment?: unknown },
  onAccepted: (socket: WebSocket) => Promise<void> | void = () => {},
): Promise<Response> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("Expected a WebSocket upgrade from the watch route", { status: 426 });
  }
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  ctx.acceptWebSocket(server);
  if (options.attachment !== undefined) server.serializeAttachment(options.attachment);
  await onAccepted(server);
  const headers: Record<string, string> = {};
  if (request.headers.get(WATCH_HEADERS.subprotocol) !== null) headers["Sec-WebSocket-Protocol"] = WATCH_PROTOCOL;
  return new Response(null, { status: 101, webSocket: client, headers });
}
