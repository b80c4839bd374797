import { DurableObject } from "cloudflare:workers";
import { DEFAULT_FADE, type FadeTimings, presenceView } from "../domain/aggregate";
import type { SetPreferredCommand, SetSessionCommand, SetStatusMessageCommand } from "../domain/commands";
import { InvalidInput } from "../domain/errors";
import { type MailboxSettingsPatch, mailboxSettingsView, mergeMailboxSettings } from "../domain/mailbox-settings";
import type { Audience, PresenceState, PresenceView, WorkLocationLayer, WorkLocationType } from "../domain/model";
import { formatSequenceNumber } from "../domain/sequence-number";
import { alarmChange, earliest, settle, withoutExpired } from "../domain/settle";
import {
  withMailboxSettings,
  withoutPreferred,
  withoutSession,
  withoutWorkLocation,
  withPreferred,
  withSession,
  withStatusMessage,
  withWorkLocation,
} from "../domain/state-changes";
import type { Env } from "../env";
import { enqueueJobs, type NotificationJob } from "../notifications/jobs";
import { logError, objectSource } from "../shared/log";
import { PresenceStore, type StoredPresence } from "./presence-store";
import { acceptWatchSocket, closeQuietly, presenceMessage, sendOrDrop, WATCH_HEADERS } from "./watch-forwarding";

/** If the queue could not take the outbox, the alarm tries again this much later. */
const OUTBOX_RETRY_MS = 10_000;

/** The stored presence, settled, with each audience's view once built; all valid until `validUntil`. */
interface Current extends StoredPresence {
  validUntil: number;
  views: Map<Audience, PresenceView>;
}

/**
 * One user's presence, named `{tenantId}:{userId}`, and the only writer of it.
 *
 * The life of a write: the route validates the body into a command (domain/commands.ts) and
 * calls a method here; the method applies the command to the state (domain/state-changes.ts),
 * `commit` settles the result (domain/settle.ts: what expired, whether the visible presence
 * changed, the next deadline), the store writes the rows that differ, and a visible change is
 * fanned out: an outbox row for webhooks in the same transaction, then the watchers. One alarm
 * at the earliest deadline makes fades and expiries happen without a request.
 */
export class UserPresence extends DurableObject<Env> {
  private readonly store: PresenceStore;
  private readonly fade: FadeTimings;
  /**
   * The one in-memory copy of the user's state: what was last loaded or committed. Nothing
   * visible changes before its next deadline without a write, and every write replaces it, so
   * reads until then are answered from it. Null until first needed after the object starts.
   */
  private current: Current | null = null;
  /** The alarm as this object last set it; undefined until read after a start. */
  private alarmAt: number | null | undefined;
  /** The outbox flush in progress: one at a time. */
  private flushing: Promise<void> | null = null;

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

  // --- platform handlers: short, guarded, delegating ---------------------------------------

  /**
   * A single-user watch socket, forwarded by the watch route after it checked the caller:
   * accepted for hibernation, tagged with what its reader may see, and sent the current
   * presence first (unless the client already has it: `since` is the last sequenceNumber it saw).
   */
  override async fetch(request: Request): Promise<Response> {
    try {
      const audience: Audience = request.headers.get(WATCH_HEADERS.audience) === "owner" ? "owner" : "other";
      // The snapshot first: a change it settles is then not also broadcast to this socket.
      const { view, changedAt } = await this.read(audience);
      return acceptWatchSocket(this.ctx, request, { tags: [audience] }, (socket) => {
        const since = request.headers.get(WATCH_HEADERS.since);
        if (since === null || view.sequenceNumber > since) socket.send(presenceMessage(this.userId, view, changedAt));
      });
    } catch (error) {
      logError(objectSource("UserPresence", this.ctx), "watch socket", error);
      return new Response("The watch socket could not be opened.", { status: 500 });
    }
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

  override async alarm(): Promise<void> {
    // The alarm that is running is no longer set; the commit arms the next one.
    this.alarmAt = null;
    try {
      if (!this.store.exists()) return;
      await this.commit(Date.now(), (state) => state);
      await this.flushOutbox();
    } catch (error) {
      // What is in memory may be ahead of what was written: read it again next time.
      this.current = null;
      logError(objectSource("UserPresence", this.ctx), "alarm", error);
      // Rethrown so the runtime retries the alarm (at-least-once; a commit is idempotent).
      throw error;
    }
  }

  // --- reads -------------------------------------------------------------------------------

  async getPresence(audience: Audience): Promise<PresenceView> {
    return (await this.read(audience)).view;
  }

  async getMailboxSettings() {
    return mailboxSettingsView(this.stored().state.mailboxSettings);
  }

  /** The presence as `audience` may see it now, and when it last changed (null: never written). */
  private async read(audience: Audience): Promise<{ view: PresenceView; changedAt: number | null }> {
    const now = Date.now();
    let current = this.stored();
    if (now >= current.validUntil) {
      // D3: a user nobody has written reads as Offline, and the read creates nothing.
      if (!this.store.exists()) {
        return {
          view: presenceView(current.state, now, audience, formatSequenceNumber(0), this.fade),
          changedAt: null,
        };
      }
      // A deadline has passed and the alarm may not have run yet: settle first, so the
      // answer is right for `now` and carries a sequence number of its own.
      current = await this.commit(now, (state) => state);
    }
    return { view: this.viewOf(current, audience, now), changedAt: current.version.changedAt };
  }

  /** `audience`'s view of `current`, built on first use and kept with it. */
  private viewOf(current: Current, audience: Audience, now: number): PresenceView {
    let view = current.views.get(audience);
    if (!view) {
      view = presenceView(current.state, now, audience, formatSequenceNumber(current.version.counter), this.fade);
      current.views.set(audience, view);
    }
    return view;
  }

  // --- writes: each applies one state change and commits it -------------------------------

  async setSession(command: SetSessionCommand): Promise<void> {
    await this.commit(Date.now(), (state, now) => withSession(state, command, now));
  }

  /** Returns false when the application has no session (the route answers 404). */
  async clearSession(sessionId: string): Promise<boolean> {
    let found = false;
    await this.commit(Date.now(), (state) => {
      const next = withoutSession(state, sessionId);
      found = next !== null;
      return next ?? state;
    });
    return found;
  }

  async setPreferred(command: SetPreferredCommand): Promise<void> {
    await this.commit(Date.now(), (state, now) => withPreferred(state, command, now));
  }

  async clearPreferred(): Promise<void> {
    await this.commit(Date.now(), withoutPreferred);
  }

  async setStatusMessage(command: SetStatusMessageCommand): Promise<void> {
    await this.commit(Date.now(), (state, now) => withStatusMessage(state, command, now));
  }

  /** setManualLocation / setAutomaticLocation: the signal belongs to the user's current local date. */
  async setWorkLocation(
    layer: WorkLocationLayer,
    source: string,
    workLocationType: WorkLocationType,
    placeId: string | null,
  ): Promise<void> {
    await this.commit(Date.now(), (state, now) =>
      withWorkLocation(state, { layer, source, workLocationType, placeId }, now),
    );
  }

  /** clearAutomaticLocation (one layer) and clearLocation (both layers). */
  async clearWorkLocation(layer?: WorkLocationLayer): Promise<void> {
    await this.commit(Date.now(), (state) => withoutWorkLocation(state, layer));
  }

  /**
   * Merges a PATCH into the stored settings here, in the object, so that two concurrent
   * PATCHes cannot overwrite each other. A refusal comes back as a value, since error classes
   * do not survive RPC.
   */
  async updateMailboxSettings(
    patch: MailboxSettingsPatch,
  ): Promise<{ settings: ReturnType<typeof mailboxSettingsView> } | { error: string }> {
    let merged: ReturnType<typeof mergeMailboxSettings>;
    try {
      merged = mergeMailboxSettings(this.stored().state.mailboxSettings, patch);
    } catch (error) {
      if (error instanceof InvalidInput) return { error: error.message };
      throw error;
    }
    await this.commit(Date.now(), (state) => withMailboxSettings(state, merged));
    return { settings: mailboxSettingsView(merged) };
  }

  // --- registrations of watchers and subscriptions ----------------------------------------

  /**
   * Registers a multi-user watcher's hub and returns the current presence as its reader may
   * see it (the message to send), or null when the hub already has `since`.
   */
  async watch(
    hubId: string,
    audience: Audience,
    since: string | null,
  ): Promise<{ id: string; sequenceNumber: string; message: string } | null> {
    this.store.addHubWatcher(hubId, audience);
    const { view, changedAt } = await this.read(audience);
    if (since !== null && view.sequenceNumber <= since) return null;
    return {
      id: this.userId,
      sequenceNumber: view.sequenceNumber,
      message: presenceMessage(this.userId, view, changedAt),
    };
  }

  async unwatch(hubId: string): Promise<void> {
    this.store.removeHubWatcher(hubId);
  }

  /** A change-notification subscription now covers this user (registered by its registry). */
  async subscribe(subscriptionId: string, appId: string, audience: Audience): Promise<void> {
    this.store.addSubscriber(subscriptionId, appId, audience);
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    this.store.removeSubscriber(subscriptionId);
  }

  // --- the commit: settle, store, fan out, arm ---------------------------------------------

  /** The stored presence: the copy in memory, read from storage once after a start (to be settled before use). */
  private stored(): Current {
    this.current ??= { ...this.store.load(), validUntil: Number.NEGATIVE_INFINITY, views: new Map() };
    return this.current;
  }

  /**
   * Applies `change` to the state as of `now` (what expired already gone), settles it, and
   * writes what differs in one transaction with the change's notification jobs; then pushes a
   * visible change to the watchers and arms the alarm at the next deadline. Idempotent: a
   * change that alters nothing writes nothing and sends nothing.
   */
  private async commit(now: number, change: (state: PresenceState, now: number) => PresenceState): Promise<Current> {
    const before = this.stored();
    const settled = settle(change(withoutExpired(before.state, now), now), before.version, now, this.fade);
    const current: Current = {
      state: settled.state,
      version: settled.version,
      validUntil: settled.nextDeadline ?? Number.POSITIVE_INFINITY,
      views: new Map(),
    };
    let queued = false;
    if (settled.changed || settled.state !== before.state) {
      this.ctx.storage.transactionSync(() => {
        this.store.save(before, current);
        if (settled.changed) queued = this.queueNotifications(current, now);
      });
    }
    this.current = current;
    if (queued) this.ctx.waitUntil(this.flushOutbox());
    if (settled.changed) this.broadcast(current, now);
    await this.armAlarm(settled.nextDeadline);
    return current;
  }

  /**
   * D18: every change that bumps sequenceNumber makes one notification job per subscription
   * covering this user, written to the outbox in the commit's transaction (then handed to the
   * queue). Returns whether there were any.
   */
  private queueNotifications(current: Current, now: number): boolean {
    const subscribers = this.store.subscribers();
    if (subscribers.length === 0) return false;
    const jobs: NotificationJob[] = subscribers.map(({ subscriptionId, appId, audience }) => ({
      kind: "change",
      tenantId: this.tenantId,
      appId,
      subscriptionId,
      userId: this.userId,
      presence: { id: this.userId, ...this.viewOf(current, audience, now) },
      firstAttemptAt: now,
    }));
    this.store.addToOutbox(jobs);
    return true;
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
        logError(objectSource("UserPresence", this.ctx), "outbox flush", error);
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /**
   * Pushes a change to every watcher: the sockets held here directly, then the hubs of
   * multi-user watchers. A hub that no longer has its socket answers false and is forgotten, so
   * nothing is sent to a closed watcher again.
   */
  private broadcast(current: Current, now: number): void {
    const messages = new Map<Audience, string>();
    const messageFor = (audience: Audience) => {
      let message = messages.get(audience);
      if (message === undefined) {
        message = presenceMessage(this.userId, this.viewOf(current, audience, now), now);
        messages.set(audience, message);
      }
      return message;
    };
    for (const audience of ["owner", "other"] as const) {
      for (const ws of this.ctx.getWebSockets(audience)) sendOrDrop(ws, messageFor(audience));
    }
    const sequenceNumber = formatSequenceNumber(current.version.counter);
    for (const { hubId, audience } of this.store.hubWatchers()) {
      const hub = this.env.PRESENCE_HUB.get(this.env.PRESENCE_HUB.idFromString(hubId));
      this.ctx.waitUntil(
        hub.deliver(this.userId, sequenceNumber, messageFor(audience)).then(
          (alive) => {
            if (!alive) this.store.removeHubWatcher(hubId);
          },
          (error) => logError(objectSource("UserPresence", this.ctx), "hub delivery", error),
        ),
      );
    }
  }

  /** Arms the one alarm at the next deadline, or sooner to retry an outbox the queue did not take. */
  private async armAlarm(deadline: number | null): Promise<void> {
    const retry = this.store.outbox().length > 0 ? Date.now() + OUTBOX_RETRY_MS : null;
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    const change = alarmChange(this.alarmAt, earliest(deadline, retry));
    if (change === "keep") return;
    if (change === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(change);
    this.alarmAt = change;
  }
}

/**
 * D5's fade steps, unless a test-only configuration shortens them (the reliability checks
 * restart the runtime across a fade and cannot wait minutes). Production never sets these.
 */
function fadeTimingsFrom(env: Env): FadeTimings {
  const idle = Number(env.TEST_FADE_IDLE_AFTER_SECONDS);
  const away = Number(env.TEST_FADE_AWAY_AFTER_SECONDS);
  if (!(idle > 0 && away > idle)) return DEFAULT_FADE;
  return { idleAfterMs: idle * 1000, awayAfterMs: away * 1000 };
}
