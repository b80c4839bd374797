import { DurableObject } from "cloudflare:workers";
import { DEFAULT_FADE, type FadeTimings, nextDeadline, presenceView } from "../domain/aggregate";
import type { SetPreferredCommand, SetSessionCommand, SetStatusMessageCommand } from "../domain/commands";
import { InvalidInput } from "../domain/errors";
import { type MailboxSettingsPatch, mailboxSettingsView, mergeMailboxSettings } from "../domain/mailbox-settings";
import {
  type Audience,
  DEFAULT_MAILBOX_SETTINGS,
  EMPTY_STATE,
  type PresenceState,
  type PresenceView,
  type WorkLocationLayer,
  type WorkLocationType,
} from "../domain/model";
import { formatSequenceNumber } from "../domain/sequence-number";
import { WATCH_PROTOCOL } from "../domain/watch-messages";
import { localDateAt } from "../domain/work-location";
import type { Env } from "../env";
import { enqueueJobs, type NotificationJob } from "../notifications/jobs";
import { PresenceStore } from "./presence-store";
import { closeQuietly, presenceMessage, sendOrDrop, WATCH_HEADERS } from "./watch-forwarding";

const SEQUENCE_KEY = "sequence";
const VISIBLE_KEY = "visible";
/** When the sequence number was last bumped (epoch ms), for watchers' "changed 2 minutes ago". */
const CHANGED_KEY = "changed";
/** If the queue could not take the outbox, the alarm tries again this much later. */
const OUTBOX_RETRY_MS = 10_000;

/** What a settle found, valid until `validUntil`; `views` holds each audience's view once built. */
interface Settled {
  state: PresenceState;
  sequenceNumber: string;
  changedAt: number | null;
  validUntil: number;
  views: Map<Audience, PresenceView>;
}

/**
 * One user's presence, named `{tenantId}:{userId}`. The only writer of that
 * user's state: it stores the inputs (sessions, preferred presence, status
 * message) in SQLite, computes what readers see with the pure domain code,
 * bumps `sequenceNumber` whenever that changes, and keeps one alarm at the
 * earliest deadline so fades and expiries happen on time without a request.
 * Every change is pushed to the user's own watch sockets (hibernatable, held
 * here) and to the PresenceHub objects of multi-user watchers.
 */
export class UserPresence extends DurableObject<Env> {
  private readonly store: PresenceStore;
  private readonly fade: FadeTimings;
  private flushing: Promise<void> | null = null;
  /**
   * What the last settle found. Nothing visible changes before its next
   * deadline without a write, and every write ends in a settle that replaces
   * this, so reads until then are answered from memory, without SQL, and each
   * audience's view is built once.
   */
  private settled: Settled | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new PresenceStore(ctx.storage.sql);
    this.fade = fadeTimingsFrom(env);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** The user's id; the object is named `{tenantId}:{userId}`. */
  private get userId(): string {
    return this.ctx.id.name?.split(":")[1] ?? "";
  }

  private get tenantId(): string {
    return this.ctx.id.name?.split(":")[0] ?? "";
  }

  /**
   * A single-user watch socket, forwarded by the watch route after it checked
   * the caller. The socket is accepted for hibernation, tagged with what its
   * reader may see, and first sent the current presence (unless the client
   * already has it: `since` is the last sequenceNumber it saw).
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a WebSocket upgrade", { status: 426 });
    }
    const audience: Audience = request.headers.get(WATCH_HEADERS.audience) === "owner" ? "owner" : "other";
    const since = request.headers.get(WATCH_HEADERS.since);
    // The snapshot first: a change it settles is then not also broadcast to this socket.
    const { view, changedAt } = await this.current(audience);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [audience]);
    if (since === null || view.sequenceNumber > since) server.send(presenceMessage(this.userId, view, changedAt));
    const headers: Record<string, string> = {};
    if (request.headers.get(WATCH_HEADERS.subprotocol) !== null) headers["Sec-WebSocket-Protocol"] = WATCH_PROTOCOL;
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  override async webSocketMessage(ws: WebSocket): Promise<void> {
    sendOrDrop(
      ws,
      JSON.stringify({
        type: "error",
        message: "This socket only sends presence. To watch several users, use /communications/presences/watch.",
      }),
    );
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    closeQuietly(ws, code);
  }

  /**
   * Registers a multi-user watcher's hub and returns the current presence as
   * its reader may see it (the message to send), or null when the hub already has `since`.
   */
  async watch(
    hubId: string,
    audience: Audience,
    since: string | null,
  ): Promise<{ id: string; sequenceNumber: string; message: string } | null> {
    this.store.ensureSchema();
    this.store.addHubWatcher(hubId, audience);
    const { view, changedAt } = await this.current(audience);
    if (since !== null && view.sequenceNumber <= since) return null;
    return {
      id: this.userId,
      sequenceNumber: view.sequenceNumber,
      message: presenceMessage(this.userId, view, changedAt),
    };
  }

  async unwatch(hubId: string): Promise<void> {
    if (this.store.exists()) this.store.removeHubWatcher(hubId);
  }

  /** A change-notification subscription now covers this user (registered by its registry). */
  async subscribe(subscriptionId: string, appId: string, audience: Audience): Promise<void> {
    this.store.ensureSchema();
    this.store.addSubscriber(subscriptionId, appId, audience);
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    if (this.store.exists()) this.store.removeSubscriber(subscriptionId);
  }

  async getPresence(audience: Audience): Promise<PresenceView> {
    return (await this.current(audience)).view;
  }

  /** The presence as `audience` may see it now, and when it last changed (null: never written). */
  private async current(audience: Audience): Promise<{ view: PresenceView; changedAt: number | null }> {
    const now = Date.now();
    let settled = this.settled;
    if (!settled || now >= settled.validUntil) {
      // D3: a user nobody has written reads as Offline, and the read creates nothing.
      if (!this.store.exists()) {
        return { view: presenceView(EMPTY_STATE, now, audience, formatSequenceNumber(0), this.fade), changedAt: null };
      }
      // The alarm may not have fired yet for a deadline that has passed: settle first,
      // so the answer is right for `now` and carries a sequence number of its own.
      settled = await this.settle(now);
    }
    return { view: this.viewOf(settled, audience, now), changedAt: settled.changedAt };
  }

  /** `audience`'s view of what a settle found, built on first use and kept with it. */
  private viewOf(found: Pick<Settled, "state" | "sequenceNumber" | "views">, audience: Audience, now: number) {
    let view = found.views.get(audience);
    if (!view) {
      view = presenceView(found.state, now, audience, found.sequenceNumber, this.fade);
      found.views.set(audience, view);
    }
    return view;
  }

  async setSession(command: SetSessionCommand): Promise<void> {
    const now = Date.now();
    this.store.ensureSchema();
    this.store.upsertSession({
      sessionId: command.sessionId,
      availability: command.availability,
      activity: command.activity,
      refreshedAt: now,
      expiresAt: now + command.durationMs,
    });
    await this.settle(now);
  }

  /** Returns false when the application has no session (the route answers 404). */
  async clearSession(sessionId: string): Promise<boolean> {
    if (!this.store.exists()) return false;
    const now = Date.now();
    // An expired session is gone already, even if the alarm has not removed it yet.
    this.store.deleteExpired(now, this.today(now));
    const found = this.store.deleteSession(sessionId);
    await this.settle(now);
    return found;
  }

  async setPreferred(command: SetPreferredCommand): Promise<void> {
    const now = Date.now();
    this.store.ensureSchema();
    this.store.setPreferred({
      availability: command.availability,
      activity: command.activity,
      setAt: now,
      expiresAt: now + command.durationMs,
    });
    await this.settle(now);
  }

  async clearPreferred(): Promise<void> {
    if (!this.store.exists()) return;
    this.store.clearPreferred();
    await this.settle(Date.now());
  }

  async setStatusMessage(command: SetStatusMessageCommand): Promise<void> {
    const now = Date.now();
    if (command === null && !this.store.exists()) return;
    this.store.ensureSchema();
    this.store.setStatusMessage(
      command && {
        content: command.content,
        expiresAt: command.expiresAt,
        publishedAt: now,
        ...(command.expiresAtSubMs ? { expiresAtSubMs: command.expiresAtSubMs } : {}),
      },
    );
    await this.settle(now);
  }

  /** setManualLocation / setAutomaticLocation: the signal belongs to the user's current local date. */
  async setWorkLocation(
    layer: WorkLocationLayer,
    source: string,
    workLocationType: WorkLocationType,
    placeId: string | null,
  ): Promise<void> {
    const now = Date.now();
    this.store.ensureSchema();
    this.store.upsertWorkLocation({ layer, source, workLocationType, placeId, localDate: this.today(now), setAt: now });
    await this.settle(now);
  }

  /** clearAutomaticLocation (one layer) and clearLocation (both layers). */
  async clearWorkLocation(layer?: WorkLocationLayer): Promise<void> {
    if (!this.store.exists()) return;
    this.store.clearWorkLocation(layer);
    await this.settle(Date.now());
  }

  async getMailboxSettings() {
    return mailboxSettingsView(this.store.exists() ? this.store.mailboxSettings() : DEFAULT_MAILBOX_SETTINGS);
  }

  /**
   * Merges a PATCH into the stored settings here, in the object, so that two
   * concurrent PATCHes cannot overwrite each other. A refusal comes back as a
   * value, since error classes do not survive RPC.
   */
  async updateMailboxSettings(
    patch: MailboxSettingsPatch,
  ): Promise<{ settings: ReturnType<typeof mailboxSettingsView> } | { error: string }> {
    const current = this.store.exists() ? this.store.mailboxSettings() : DEFAULT_MAILBOX_SETTINGS;
    let merged: ReturnType<typeof mergeMailboxSettings>;
    try {
      merged = mergeMailboxSettings(current, patch);
    } catch (error) {
      if (error instanceof InvalidInput) return { error: error.message };
      throw error;
    }
    this.store.ensureSchema();
    this.store.setMailboxSettings(merged);
    // A new time zone can end today's work-location signals: look again at what expired.
    this.nextDeadlineAt = undefined;
    await this.settle(Date.now());
    return { settings: mailboxSettingsView(merged) };
  }

  override async alarm(): Promise<void> {
    // The alarm that is running is no longer set; settle arms the next one.
    this.alarmAt = null;
    try {
      if (!this.store.exists()) return;
      await this.settle(Date.now());
      await this.flushOutbox();
    } catch (error) {
      // What the store remembers may be ahead of what was written: read it again next time.
      this.store.forgetCopy();
      this.settled = null;
      // Rethrown so the runtime retries the alarm (at-least-once; settle is idempotent).
      console.error(JSON.stringify({ level: "error", object: "UserPresence", event: "alarm", error: String(error) }));
      throw error;
    }
  }

  /**
   * Brings stored state up to `now`: drops what expired, bumps the sequence
   * number if what the owner can see changed since the last bump (D10), and
   * re-arms the alarm at the next deadline or deletes it. Idempotent.
   */
  private async settle(now: number): Promise<Settled> {
    this.settled = null;
    // Nothing stored expires before the previous settle's next deadline (the earliest
    // fade, expiry or midnight), and what a write adds lies in the future.
    if (this.nextDeadlineAt === undefined || (this.nextDeadlineAt !== null && now >= this.nextDeadlineAt)) {
      this.store.deleteExpired(now, this.today(now));
    }
    const state = this.store.load();
    // The owner's view is the most detailed one: any change a reader can see changes it.
    const visible = JSON.stringify(presenceView(state, now, "owner", "", this.fade));
    const previous =
      this.store.getMeta(VISIBLE_KEY) ?? JSON.stringify(presenceView(EMPTY_STATE, now, "owner", "", this.fade));
    let counter = Number(this.store.getMeta(SEQUENCE_KEY) ?? 0);
    const changed = visible !== previous;
    let changedAt: number | null;
    if (changed) {
      counter += 1;
      changedAt = now;
      this.store.setMeta({ [SEQUENCE_KEY]: String(counter), [VISIBLE_KEY]: visible, [CHANGED_KEY]: String(now) });
    } else {
      const changedMeta = this.store.getMeta(CHANGED_KEY);
      changedAt = changedMeta === null ? null : Number(changedMeta);
    }
    const sequenceNumber = formatSequenceNumber(counter);
    // Each audience's view is computed once, for subscribers, watchers and readers alike.
    const views = new Map<Audience, PresenceView>();
    if (changed) {
      const viewFor = (audience: Audience) => this.viewOf({ state, sequenceNumber, views }, audience, now);
      this.queueNotifications(now, viewFor);
      this.broadcast(now, sequenceNumber, viewFor);
    }
    const deadline = nextDeadline(state, now, this.fade);
    this.nextDeadlineAt = deadline;
    const retryOutbox = this.store.outbox().length > 0 ? now + OUTBOX_RETRY_MS : null;
    await this.armAlarm(
      deadline === null ? retryOutbox : retryOutbox === null ? deadline : Math.min(deadline, retryOutbox),
    );
    this.settled = { state, sequenceNumber, changedAt, validUntil: deadline ?? Number.POSITIVE_INFINITY, views };
    return this.settled;
  }

  /**
   * D18: every change that bumps sequenceNumber makes one notification job per
   * subscription covering this user. The jobs are written to the outbox in the
   * same transaction as the change, then handed to the queue.
   */
  private queueNotifications(now: number, viewFor: (audience: Audience) => PresenceView): void {
    const subscribers = this.store.subscribers();
    if (subscribers.length === 0) return;
    const jobs: NotificationJob[] = subscribers.map(({ subscriptionId, appId, audience }) => ({
      kind: "change",
      tenantId: this.tenantId,
      appId,
      subscriptionId,
      userId: this.userId,
      presence: { id: this.userId, ...viewFor(audience) },
      firstAttemptAt: now,
    }));
    this.store.addToOutbox(jobs);
    this.ctx.waitUntil(this.flushOutbox());
  }

  /** Sends outbox rows to the queue, oldest first; what fails stays for the alarm. One flush at a time. */
  private flushOutbox(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        // Rows added while this flush runs are taken too, rather than left for the alarm.
        for (let rows = this.store.outbox(); rows.length > 0; rows = this.store.outbox()) {
          for (const row of rows) {
            await enqueueJobs(this.env.NOTIFICATIONS, JSON.parse(row.jobs) as NotificationJob[]);
            this.store.removeFromOutbox(row.id);
          }
        }
      } catch (error) {
        console.error(
          JSON.stringify({ level: "error", object: "UserPresence", event: "outbox flush", error: String(error) }),
        );
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /**
   * Pushes a change to every watcher: the sockets held here directly, then the
   * hubs of multi-user watchers. A hub that no longer has its socket answers
   * false and is forgotten, so nothing is sent to a closed watcher again.
   */
  private broadcast(now: number, sequenceNumber: string, viewFor: (audience: Audience) => PresenceView): void {
    const messages = new Map<Audience, string>();
    const messageFor = (audience: Audience) => {
      let message = messages.get(audience);
      if (message === undefined) {
        message = presenceMessage(this.userId, viewFor(audience), now);
        messages.set(audience, message);
      }
      return message;
    };
    for (const audience of ["owner", "other"] as const) {
      for (const ws of this.ctx.getWebSockets(audience)) sendOrDrop(ws, messageFor(audience));
    }
    for (const { hubId, audience } of this.store.hubWatchers()) {
      const hub = this.env.PRESENCE_HUB.get(this.env.PRESENCE_HUB.idFromString(hubId));
      this.ctx.waitUntil(
        hub.deliver(this.userId, sequenceNumber, messageFor(audience)).then(
          (alive) => {
            if (!alive) this.store.removeHubWatcher(hubId);
          },
          (error) =>
            console.error(
              JSON.stringify({ level: "error", object: "UserPresence", event: "hub delivery", error: String(error) }),
            ),
        ),
      );
    }
  }

  /** The user's local date at `now`, in their mailbox time zone (D14). */
  private today(now: number): string {
    return localDateAt(now, this.store.mailboxSettings().timeZone);
  }

  /** The last settle's next deadline: null when nothing was due, undefined before the first settle. */
  private nextDeadlineAt: number | null | undefined;

  /** The alarm as this object last set it; undefined until read once (after a restart or eviction). */
  private alarmAt: number | null | undefined;

  private async armAlarm(deadline: number | null): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (deadline === this.alarmAt) return;
    // An alarm already set no later than the deadline stays: when it fires, the
    // settle re-arms at the true next deadline. A refreshed session moves its
    // deadlines later on every write; moving the alarm each time cost a storage
    // write per request, where an early alarm costs one wake-up.
    if (deadline !== null && this.alarmAt !== null && this.alarmAt <= deadline) return;
    if (deadline === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(deadline);
    this.alarmAt = deadline;
  }
}

/**
 * D5's fade steps, unless a test-only configuration shortens them (the
 * reliability checks restart the runtime across a fade and cannot wait
 * minutes). Production configuration never sets these.
 */
function fadeTimingsFrom(env: Env): FadeTimings {
  const idle = Number(env.TEST_FADE_IDLE_AFTER_SECONDS);
  const away = Number(env.TEST_FADE_AWAY_AFTER_SECONDS);
  if (!(idle > 0 && away > idle)) return DEFAULT_FADE;
  return { idleAfterMs: idle * 1000, awayAfterMs: away * 1000 };
}
