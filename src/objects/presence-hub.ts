import { DurableObject } from "cloudflare:workers";
import { readConfig } from "../config";
import { type Caller, deserializeCaller, isSamePrincipal, serializeCaller } from "../domain/caller";
import type { WatchDelivery } from "../domain/fanout";
import { audienceFor, canRead } from "../domain/permissions";
import { padSequenceNumber } from "../domain/sequence-number";
import { errorMessage, MAX_WATCHED_USERS, parseClientMessage, type WatchErrorCode } from "../domain/watch-messages";
import type { Env } from "../env";
import { authenticate, CLOCK_SKEW_SECONDS } from "../http/auth";
import { admit } from "../http/throttle";
import { WATCH_SOCKET } from "../observability/metrics";
import { logError, objectSource } from "../shared/log";
import { mapWithConcurrency } from "../shared/map-with-concurrency";
import { hasTable } from "../shared/sqlite";
import { HubWatches, WAITING } from "./hub-watches";
import { parseUserObjectName, userPresenceStub } from "./names";
import { acceptWatchSocket, closeQuietly, HUB_FULL_HEADER, sendOrDrop, WATCH_HEADERS } from "./watch-forwarding";

/** Registrations with users in flight at once, when a socket subscribes to many. */
const REGISTRATION_CONCURRENCY = 32;
/** D27: a socket that sends more invalid frames than this in a minute is closed. */
const INVALID_FRAMES_PER_MINUTE = 100;

/** What each socket carries through hibernation. */
interface SocketAttachment {
  /** The socket's id: its watches name it. */
  id: string;
  /** The caller whose token opened (or last reauthorized) the socket, serialized. */
  caller: string;
  /** A single-user socket watches this user for its whole life; a multi-user socket has none. */
  user?: string;
}

/**
 * One hub of a tenant's pool, named `{tenantId}:{region}:{index}` (names.ts), holding many
 * watch sockets: single-user sockets (`/users/{id}/presence/watch`) and multi-user ones
 * (`/communications/presences/watch`), each with what it watches. The hub registers with each
 * watched user once, however many of its sockets watch that user, and the user's relay sends
 * it each change once; the hub sends it on to its sockets (DESIGN.md, "Fan-out").
 *
 * Storage: `sockets` (id, when its token runs out) and `watches` (which socket watches which user,
 * from which sequenceNumber on); in memory, each watched user's newest presence.
 * Nothing is stored once the last socket has gone.
 */
export class PresenceHub extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private schemaReady = false;
  /** Invalid frames per socket this minute (memory: a hub that hibernates has no flood to count). */
  private readonly invalidFrames = new Map<string, { count: number; since: number }>();
  /** Registrations with a user in flight, chained per user so a watch and an unwatch never cross. */
  private readonly registrations = new Map<string, Promise<unknown>>();
  /**
   * Each watched user's newest presence here: it answers a new socket without asking the user's
   * object and keeps deliveries from going backwards. Memory only: writing it on every delivery
   * held each hub's frames behind a storage commit (a change to 250 sockets took twice as long),
   * and after hibernation the rows' floors and the relay's own record of what each hub has keep
   * the order; a new socket then asks the user's object once.
   */
  private readonly latest = new Map<string, WatchDelivery>();
  /** Which socket watches which user: stored, and indexed in memory (hub-watches.ts). */
  private readonly watches: HubWatches;
  /** The open sockets by id, built from the runtime's list once after a wake (a tag lookup per send cost more). */
  private sockets: Map<string, WebSocket> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.watches = new HubWatches(this.sql);
    // Answered by the runtime without waking the hub.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  private get source() {
    return objectSource("PresenceHub", this.ctx);
  }

  private get tenantId(): string {
    return parseUserObjectName(this.ctx.id.name).tenantId;
  }

  private get hubName(): string {
    return this.ctx.id.name ?? "";
  }

  // --- platform handlers ---------------------------------------------------------------

  /** A socket forwarded by a watch route, after it checked the caller (and, for one user, the permission). */
  override async fetch(request: Request): Promise<Response> {
    try {
      const callerText = request.headers.get(WATCH_HEADERS.caller);
      if (callerText === null) return new Response("Expected a socket from the watch route", { status: 426 });
      if (this.ctx.getWebSockets().length >= readConfig(this.env).socketsPerHub) {
        return new Response("This hub is full", { status: 503, headers: { [HUB_FULL_HEADER]: "1" } });
      }
      const caller = deserializeCaller(callerText);
      const user = request.headers.get(WATCH_HEADERS.user) ?? undefined;
      const attachment: SocketAttachment = { id: crypto.randomUUID(), caller: callerText, user };
      this.ensureSchema();
      this.sql.exec("INSERT INTO sockets (id, expires_at) VALUES (?, ?)", attachment.id, lifeEnd(caller));
      await this.armAlarm();
      return await acceptWatchSocket(this.ctx, request, { attachment }, async (socket) => {
        this.socketMap().set(attachment.id, socket);
        if (user === undefined) return;
        const since = request.headers.get(WATCH_HEADERS.since);
        const failed = await this.subscribe(
          socket,
          attachment.id,
          caller,
          [user],
          since ? { [user]: since } : {},
          false,
        );
        // A socket that watches one user and cannot watch it has nothing to do: the client reconnects.
        if (failed.size > 0) closeQuietly(socket, 1011, "try again");
      });
    } catch (error) {
      logError(this.source, "watch socket", error);
      return new Response("The watch socket could not be opened.", { status: 500 });
    }
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    try {
      await this.onFrame(ws, raw);
    } catch (error) {
      logError(this.source, "socket message", error);
      sendOrDrop(ws, errorMessage("unavailable", "The message could not be handled; please retry."));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    closeQuietly(ws, code);
    await this.guarded("socket close", () => this.forgetSocket(attachmentOf(ws).id));
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.guarded("socket error", () => this.forgetSocket(attachmentOf(ws).id));
  }

  /**
   * Closes the sockets whose token ran out (D27), and forgets the rows of sockets that are gone
   * without a close (after a crash or restart the runtime drops every socket, and no close
   * event runs). The alarm is always set while a socket is stored: at the earliest token end.
   */
  override async alarm(): Promise<void> {
    if (!this.exists()) return;
    const now = Date.now();
    const live = new Map(this.ctx.getWebSockets().map((ws) => [attachmentOf(ws).id, ws]));
    const stored = this.sql.exec<{ id: string; expires_at: number }>("SELECT id, expires_at FROM sockets").toArray();
    for (const { id, expires_at } of stored) {
      const ws = live.get(id);
      if (ws && expires_at <= now) expire(ws);
      if (!ws || expires_at <= now) await this.forgetSocket(id);
    }
    await this.armAlarm();
  }

  // --- deliveries from relays -----------------------------------------------------------

  /**
   * A user's changes, oldest first, from the relay that holds this hub's registration. Each goes
   * to the sockets watching the user that do not have it yet; the user's newest messages are
   * kept. Returns false when no socket here watches the user any more, so the relay forgets
   * this hub.
   */
  async deliver(userId: string, deliveries: WatchDelivery[]): Promise<boolean> {
    if (!this.exists()) return false;
    const watchers = this.watches.watchersOf(userId);
    if (!watchers) return false;
    const sockets = this.socketMap();
    const known = this.latest.get(userId);
    let newest: WatchDelivery | null = null;
    const gone = new Set<string>();
    for (const delivery of deliveries) {
      if (delivery.sequenceNumber <= (newest?.sequenceNumber ?? known?.sequenceNumber ?? "")) continue;
      for (const [socketId, watch] of watchers) {
        if (delivery.sequenceNumber <= watch.floor) continue;
        const ws = sockets.get(socketId);
        if (ws) sendOrDrop(ws, delivery.messages[watch.audience]);
        else gone.add(socketId);
      }
      newest = delivery;
    }
    if (newest) this.remember(userId, newest);
    const watching = watchers.size - gone.size;
    for (const id of gone) await this.forgetSocket(id);
    return watching > 0;
  }

  // --- frames from clients --------------------------------------------------------------

  private async onFrame(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const attachment = attachmentOf(ws);
    const caller = deserializeCaller(attachment.caller);
    if (Date.now() >= lifeEnd(caller)) {
      expire(ws);
      await this.forgetSocket(attachment.id);
      return;
    }
    const message = parseClientMessage(raw);
    // D27: every frame counts against the application's budget (D20), a subscribe as one read.
    const kind = "type" in message && message.type === "subscribe" ? "read" : "other";
    const retryAt = await admit(this.env, caller, kind, WATCH_SOCKET);
    if (retryAt !== null) {
      const retryAfterSeconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
      sendOrDrop(
        ws,
        errorMessage("throttled", "Too many requests from this application. Please retry after a while.", {
          retryAfterSeconds,
        }),
      );
      return;
    }
    if ("error" in message) return this.refuse(ws, attachment, "invalidMessage", message.error);
    if (message.type === "reauthorize") return this.reauthorize(ws, attachment, caller, message.token);
    if (attachment.user !== undefined) {
      return this.refuse(
        ws,
        attachment,
        "invalidMessage",
        "This socket watches one user. To watch several, use /communications/presences/watch.",
      );
    }
    if (message.type === "subscribe") {
      await this.subscribe(ws, attachment.id, caller, message.ids, message.since ?? {}, true);
    } else {
      await this.unsubscribe(ws, attachment.id, message.ids);
    }
  }

  /** An error frame for an invalid message; past the flood limit, the socket is closed (D27). */
  private async refuse(ws: WebSocket, attachment: SocketAttachment, code: WatchErrorCode, text: string) {
    const now = Date.now();
    let count = this.invalidFrames.get(attachment.id);
    if (!count || now - count.since >= 60_000) count = { count: 0, since: now };
    count.count += 1;
    this.invalidFrames.set(attachment.id, count);
    if (count.count > INVALID_FRAMES_PER_MINUTE) {
      sendOrDrop(
        ws,
        errorMessage("tooManyInvalidMessages", `More than ${INVALID_FRAMES_PER_MINUTE} invalid messages in a minute.`),
      );
      closeQuietly(ws, 1008, "too many invalid messages");
      await this.forgetSocket(attachment.id);
      return;
    }
    sendOrDrop(ws, errorMessage(code, text));
  }

  /**
   * Watches `ids` on the socket. Each user's rows are written first, held back from deliveries
   * until the user's presence is known (the snapshot a registration returns, or what this hub
   * already has), so a change arriving meanwhile is neither lost nor sent before the snapshot.
   * Returns the users it could not watch.
   */
  private async subscribe(
    ws: WebSocket,
    socketId: string,
    caller: Caller,
    ids: readonly string[],
    since: Record<string, string>,
    confirm: boolean,
  ): Promise<ReadonlySet<string>> {
    const watched = this.usersOf(socketId);
    const fresh = [...new Set(ids.map((id) => id.toLowerCase()))].filter((id) => !watched.has(id));
    if (watched.size + fresh.length > MAX_WATCHED_USERS) {
      sendOrDrop(
        ws,
        errorMessage(
          "tooManyUsers",
          `A socket may watch at most ${MAX_WATCHED_USERS} users; this would make ${watched.size + fresh.length}. Nothing was subscribed.`,
        ),
      );
      return new Set(fresh);
    }
    const forbidden = fresh.filter((id) => !canRead(caller, id));
    if (forbidden.length > 0) {
      sendOrDrop(
        ws,
        errorMessage("forbidden", "Watching these users needs Presence.Read.All. Nothing was subscribed.", {
          ids: forbidden,
        }),
      );
      return new Set(forbidden);
    }
    const resumeFrom = new Map(Object.entries(since).map(([id, seq]) => [id.toLowerCase(), padSequenceNumber(seq)]));
    for (const id of fresh) this.watches.add(id, socketId, { audience: audienceFor(caller, id), floor: WAITING });
    const failed = new Set<string>();
    await mapWithConcurrency(fresh, REGISTRATION_CONCURRENCY, async (id) => {
      try {
        await this.ensureWatching(id);
      } catch (error) {
        failed.add(id);
        logError(this.source, "watch registration", error, { userId: id });
      }
    });
    for (const id of fresh) {
      if (failed.has(id)) {
        this.watches.remove(id, socketId);
        continue;
      }
      const known = this.latest.get(id);
      const resume = resumeFrom.get(id) ?? "";
      const floor = known && known.sequenceNumber > resume ? known.sequenceNumber : resume;
      // The socket may have closed meanwhile; then there is no watch to update and nothing to send.
      const updated = this.watches.setFloor(id, socketId, floor);
      const message = known?.messages[audienceFor(caller, id)];
      if (updated && known && message && known.sequenceNumber > resume) sendOrDrop(ws, message);
    }
    if (failed.size > 0) {
      sendOrDrop(
        ws,
        errorMessage("unavailable", "These users could not be watched right now; subscribe to them again.", {
          ids: [...failed],
        }),
      );
    }
    if (confirm) sendOrDrop(ws, JSON.stringify({ type: "subscribed", ids: fresh.filter((id) => !failed.has(id)) }));
    return failed;
  }

  private async unsubscribe(ws: WebSocket, socketId: string, ids: readonly string[]): Promise<void> {
    const watched = this.usersOf(socketId);
    const leaving = [...new Set(ids.map((id) => id.toLowerCase()))].filter((id) => watched.has(id));
    for (const id of leaving) this.watches.remove(id, socketId);
    await this.releaseUnwatched(leaving);
    sendOrDrop(ws, JSON.stringify({ type: "unsubscribed", ids: leaving }));
  }

  /**
   * D27: a fresh token for the same tenant, application and user extends the socket's life,
   * if it may still read every user the socket watches.
   */
  private async reauthorize(ws: WebSocket, attachment: SocketAttachment, caller: Caller, token: string) {
    let next: Caller;
    try {
      next = await authenticate(`Bearer ${token}`, this.env);
    } catch (error) {
      const reason = error instanceof Error ? error.message : "The token was refused.";
      sendOrDrop(ws, errorMessage("reauthorizeFailed", reason));
      return;
    }
    if (!isSamePrincipal(caller, next)) {
      sendOrDrop(
        ws,
        errorMessage("reauthorizeFailed", "The new token must be for the same tenant, application and user."),
      );
      return;
    }
    const unreadable = [...this.usersOf(attachment.id)].filter((id) => !canRead(next, id));
    if (unreadable.length > 0) {
      sendOrDrop(
        ws,
        errorMessage("reauthorizeFailed", "The new token may not read every user this socket watches.", {
          ids: unreadable,
        }),
      );
      return;
    }
    ws.serializeAttachment({ ...attachment, caller: serializeCaller(next) } satisfies SocketAttachment);
    this.sql.exec("UPDATE sockets SET expires_at = ? WHERE id = ?", lifeEnd(next), attachment.id);
    await this.armAlarm();
    sendOrDrop(
      ws,
      JSON.stringify({ type: "reauthorized", expirationDateTime: new Date(next.expiresAt).toISOString() }),
    );
  }

  // --- registrations with users ---------------------------------------------------------

  /** Runs `task` after every earlier registration task for the same user. */
  private serially<T>(userId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.registrations.get(userId) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => {});
    this.registrations.set(userId, settled);
    void settled.then(() => {
      if (this.registrations.get(userId) === settled) this.registrations.delete(userId);
    });
    return next;
  }

  /** Registers the hub with the user (once) and keeps the newest presence it learns. */
  private ensureWatching(userId: string): Promise<void> {
    return this.serially(userId, async () => {
      if (this.latest.get(userId)?.messages) return;
      const snapshot = await userPresenceStub(this.env, this.tenantId, userId).watch(this.hubName);
      this.remember(userId, snapshot);
    });
  }

  /** Keeps `delivery` as the user's newest presence, unless the hub already has a newer one. */
  private remember(userId: string, delivery: WatchDelivery): void {
    const known = this.latest.get(userId);
    if (known && known.sequenceNumber >= delivery.sequenceNumber) return;
    this.latest.set(userId, delivery);
  }

  /** Unregisters from each of `userIds` that no socket here watches any more. */
  private async releaseUnwatched(userIds: readonly string[]): Promise<void> {
    const released = userIds.filter((id) => !this.watches.isWatched(id));
    for (const id of released) this.latest.delete(id);
    await mapWithConcurrency(released, REGISTRATION_CONCURRENCY, (id) =>
      this.serially(id, () => userPresenceStub(this.env, this.tenantId, id).unwatch(this.hubName)).catch((error) =>
        // The relay forgets this hub at the user's next change anyway (deliver answers false).
        logError(this.source, "watch unregistration", error, { userId: id }),
      ),
    );
  }

  /** A socket is gone: forget its rows, unregister from users nobody here watches, and, when it was the last, everything. */
  private async forgetSocket(socketId: string): Promise<void> {
    if (!this.exists()) return;
    this.invalidFrames.delete(socketId);
    this.sockets?.delete(socketId);
    const userIds = this.watches.removeSocket(socketId);
    this.sql.exec("DELETE FROM sockets WHERE id = ?", socketId);
    await this.releaseUnwatched(userIds);
    const [left] = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sockets").toArray();
    if ((left?.n ?? 0) === 0 && this.registrations.size === 0) {
      // No socket, no storage: this also deletes the alarm.
      await this.ctx.storage.deleteAll();
      this.schemaReady = false;
      this.watches.forget();
    } else {
      await this.armAlarm();
    }
  }

  // --- storage --------------------------------------------------------------------------

  private usersOf(socketId: string): ReadonlySet<string> {
    return this.exists() ? this.watches.usersOf(socketId) : new Set();
  }

  private socketMap(): Map<string, WebSocket> {
    this.sockets ??= new Map(this.ctx.getWebSockets().map((ws) => [attachmentOf(ws).id, ws]));
    return this.sockets;
  }

  private exists(): boolean {
    if (this.schemaReady) return true;
    this.schemaReady = hasTable(this.sql, "sockets");
    return this.schemaReady;
  }

  private ensureSchema(): void {
    if (this.exists()) return;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS sockets (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      ${HubWatches.SCHEMA}`);
    this.schemaReady = true;
  }

  /** The alarm at the earliest token end among the stored sockets. */
  private async armAlarm(): Promise<void> {
    if (!this.exists()) return;
    const [next] = this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM sockets").toArray();
    const at = next?.at ?? null;
    const armed = await this.ctx.storage.getAlarm();
    if (armed === at) return;
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  private async guarded(event: string, task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (error) {
      logError(this.source, event, error);
    }
  }
}

const attachmentOf = (ws: WebSocket) => ws.deserializeAttachment() as SocketAttachment;

/** D27: a socket lives until its token's `exp`, plus the skew tokens are accepted with. */
const lifeEnd = (caller: Caller) => caller.expiresAt + CLOCK_SKEW_SECONDS * 1000;

/** D27: the token ran out; the client may open a new socket with a new one. */
function expire(ws: WebSocket): void {
  sendOrDrop(
    ws,
    errorMessage("tokenExpired", "The access token of this socket has expired: reconnect with a new one."),
  );
  closeQuietly(ws, 1008, "token expired");
}
