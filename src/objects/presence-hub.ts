import { DurableObject } from "cloudflare:workers";
import { type ClientMessage, MAX_WATCHED_USERS, parseClientMessage } from "../domain/watch-messages";
import type { Env } from "../env";
import { type Caller, deserializeCaller } from "../http/auth";
import { GraphError } from "../http/errors";
import { assertCanRead, audienceFor } from "../http/permissions";
import { mapWithConcurrency } from "../shared/map-with-concurrency";
import { userPresenceStub } from "./user-stub";
import { acceptWatchSocket, closeQuietly, sendOrDrop, WATCH_HEADERS } from "./watch-forwarding";

// Enough in flight to subscribe 650 users quickly without a burst of 650 calls.
const SUBSCRIBE_CONCURRENCY = 32;

interface Attachment {
  caller: string;
}

/**
 * One multi-user watch connection (`/communications/presences/watch`): it
 * holds the client's hibernatable socket and the list of users it watches.
 * Each watched user's object notifies this hub (one call per change), so a
 * user watched by many never holds a socket per watcher, and this hub sends
 * each change on. When the socket closes, the hub unregisters from every user.
 */
export class PresenceHub extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    // last_seq: the newest sequenceNumber sent for the user, so late or
    // reordered deliveries are never sent twice or backwards.
    this.sql.exec("CREATE TABLE IF NOT EXISTS subscriptions (user_id TEXT PRIMARY KEY, last_seq TEXT NOT NULL)");
  }

  override async fetch(request: Request): Promise<Response> {
    const caller = request.headers.get(WATCH_HEADERS.caller);
    if (caller === null) return new Response("Expected a WebSocket upgrade from the watch route", { status: 426 });
    return acceptWatchSocket(this.ctx, request, { attachment: { caller } satisfies Attachment });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const message = parseClientMessage(raw);
    if ("error" in message) {
      sendOrDrop(ws, JSON.stringify({ type: "error", message: message.error }));
      return;
    }
    const caller = deserializeCaller((ws.deserializeAttachment() as Attachment).caller);
    if (message.type === "subscribe") await this.subscribe(ws, caller, message);
    else await this.unsubscribe(ws, caller, message.ids);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    closeQuietly(ws, code);
    await this.forgetEverything(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.forgetEverything(ws);
  }

  /**
   * Called by a watched user's object on every change. Returns false when this
   * hub no longer wants that user (socket closed, or unsubscribed), so the
   * user's object stops notifying it.
   */
  async deliver(userId: string, sequenceNumber: string, message: string): Promise<boolean> {
    const [socket] = this.ctx.getWebSockets().filter((ws) => ws.readyState === WebSocket.OPEN);
    if (!socket) return false;
    const advanced = this.advance(userId, sequenceNumber);
    if (advanced === null) return false;
    if (advanced) sendOrDrop(socket, message);
    return true;
  }

  /**
   * The one check that keeps each user's versions in order on the socket: true when
   * `sequenceNumber` is newer than what was sent for the user, and records it; false when it is
   * not; null when the hub does not watch the user.
   */
  private advance(userId: string, sequenceNumber: string): boolean | null {
    const [row] = this.sql
      .exec<{ last_seq: string }>("SELECT last_seq FROM subscriptions WHERE user_id = ?", userId)
      .toArray();
    if (!row) return null;
    if (sequenceNumber <= row.last_seq) return false;
    this.sql.exec("UPDATE subscriptions SET last_seq = ? WHERE user_id = ?", sequenceNumber, userId);
    return true;
  }

  private subscribedIds(): Set<string> {
    return new Set(
      this.sql
        .exec<{ user_id: string }>("SELECT user_id FROM subscriptions")
        .toArray()
        .map((r) => r.user_id),
    );
  }

  private async subscribe(ws: WebSocket, caller: Caller, message: Extract<ClientMessage, { type: "subscribe" }>) {
    const already = this.subscribedIds();
    const fresh = [...new Set(message.ids.map((id) => id.toLowerCase()))].filter((id) => !already.has(id));
    if (already.size + fresh.length > MAX_WATCHED_USERS) {
      sendOrDrop(
        ws,
        JSON.stringify({
          type: "error",
          message: `A socket may watch at most ${MAX_WATCHED_USERS} users; this would make ${already.size + fresh.length}. Nothing was subscribed.`,
        }),
      );
      return;
    }
    const forbidden = fresh.filter((id) => !mayRead(caller, id));
    if (forbidden.length > 0) {
      sendOrDrop(
        ws,
        JSON.stringify({
          type: "error",
          message: "Watching these users needs Presence.Read.All. Nothing was subscribed.",
          ids: forbidden,
        }),
      );
      return;
    }
    const since = new Map(
      Object.entries(message.since ?? {}).map(([id, seq]) => [id.toLowerCase(), seq.padStart(20, "0")]),
    );
    // Rows first: a change delivered while the snapshots are being read is then
    // not lost, and last_seq keeps the snapshot from being sent after it.
    for (const id of fresh) {
      this.sql.exec("INSERT INTO subscriptions (user_id, last_seq) VALUES (?, ?)", id, since.get(id) ?? "");
    }
    const hubId = this.ctx.id.toString();
    const snapshots = await mapWithConcurrency(fresh, SUBSCRIBE_CONCURRENCY, (id) =>
      userPresenceStub(this.env, caller.tenantId, id).watch(hubId, audienceFor(caller, id), since.get(id) ?? null),
    );
    for (const snapshot of snapshots) {
      if (snapshot && this.advance(snapshot.id, snapshot.sequenceNumber)) sendOrDrop(ws, snapshot.message);
    }
    sendOrDrop(ws, JSON.stringify({ type: "subscribed", ids: fresh }));
  }

  private async unsubscribe(ws: WebSocket, caller: Caller, ids: string[]) {
    const subscribed = this.subscribedIds();
    const leaving = [...new Set(ids.map((id) => id.toLowerCase()))].filter((id) => subscribed.has(id));
    for (const id of leaving) this.sql.exec("DELETE FROM subscriptions WHERE user_id = ?", id);
    const hubId = this.ctx.id.toString();
    await mapWithConcurrency(leaving, SUBSCRIBE_CONCURRENCY, (id) =>
      userPresenceStub(this.env, caller.tenantId, id).unwatch(hubId),
    );
    sendOrDrop(ws, JSON.stringify({ type: "unsubscribed", ids: leaving }));
  }

  /** The socket is gone: unregister from every watched user and leave no storage behind. */
  private async forgetEverything(ws: WebSocket) {
    const attachment = ws.deserializeAttachment() as Attachment | null;
    const ids = [...this.subscribedIds()];
    this.sql.exec("DELETE FROM subscriptions");
    if (attachment) {
      const { tenantId } = deserializeCaller(attachment.caller);
      const hubId = this.ctx.id.toString();
      await mapWithConcurrency(ids, SUBSCRIBE_CONCURRENCY, (id) =>
        userPresenceStub(this.env, tenantId, id).unwatch(hubId),
      );
    }
    await this.ctx.storage.deleteAll();
  }
}

function mayRead(caller: Caller, userId: string): boolean {
  try {
    assertCanRead(caller, userId);
    return true;
  } catch (error) {
    if (error instanceof GraphError) return false;
    throw error;
  }
}
