import type { PresenceView } from "../domain/model";

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
