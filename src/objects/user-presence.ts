import { DurableObject } from "cloudflare:workers";
import { readConfig } from "../config";
import { type FadeTimings, presenceView } from "../domain/aggregate";
import type { SetPreferredCommand, SetSessionCommand, SetStatusMessageCommand } from "../domain/commands";
import { InvalidInput } from "../domain/errors";
import { type ChangeRecord, presenceMessage, type WatchDelivery } from "../domain/fanout";
import { type MailboxSettingsPatch, mailboxSettingsView, mergeMailboxSettings } from "../domain/mailbox-settings";
import {
  type Audience,
  DEFAULT_MAILBOX_SETTINGS,
  type PresenceState,
  type PresenceView,
  type WorkLocationLayer,
  type WorkLocationType,
} from "../domain/model";
import type { PresenceSnapshot } from "../domain/read-views";
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
import { parseUserObjectName } from "./names";
import { PresenceStore, type StoredPresence } from "./presence-store";
import { UserFanout } from "./user-fanout";

/** If a relay could not take the changes, the alarm tries again this much later. */
const FANOUT_RETRY_MS = 10_000;

/**
 * What the Worker that carried a write needs for read-your-writes (D30): the presence after the
 * write, and which regions' read views may hold the user (those registered, and any view at all
 * when this write is the user's first, since views hold unwritten users without registering).
 * Null when no view can need it: nothing visible changed, or no view holds the user.
 */
export interface WriteReceipt {
  snapshot: PresenceSnapshot;
  views: string[];
  created: boolean;
}

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
 * changed, the next deadline), and the store writes the rows that differ, with one row for a
 * visible change when anyone watches or subscribes. That row then goes to the user's relays
 * (FanoutRelay), at most RELAY_SHARDS calls whatever the audience, after the writer has its
 * answer. One alarm at the earliest deadline makes fades and expiries happen without a request.
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
  /** Whether what an earlier version left (legacy subscriptions and outbox) has been handed on. */
  private legacyAdopted = false;
  /** Who watches or subscribes, through the user's relays, and the changes on their way to them. */
  private readonly fanout: UserFanout;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new PresenceStore(ctx.storage.sql);
    this.fade = readConfig(env).fade;
    const { tenantId, userId } = parseUserObjectName(ctx.id.name);
    this.fanout = new UserFanout(env, ctx.storage.sql, this.store, {
      tenantId,
      userId,
      source: objectSource("UserPresence", ctx),
      // The commit's deadline stays; the retry joins it (armAlarm keeps the earlier one).
      retryLater: () => this.armAlarm(this.deadline()),
      delivered: () => this.armAlarmAtDeadline(),
      emptied: () => this.forgetIfUnused(),
    });
  }

  /** The user's id; the object is named `{tenantId}:{userId}`. */
  private get userId(): string {
    return parseUserObjectName(this.ctx.id.name).userId;
  }

  private get tenantId(): string {
    return parseUserObjectName(this.ctx.id.name).tenantId;
  }

  // --- platform handlers: short, guarded, delegating ---------------------------------------

  override async alarm(): Promise<void> {
    // The alarm that is running is no longer set; the commit arms the next one.
    this.alarmAt = null;
    try {
      if (!this.store.exists()) return;
      await this.commit(Date.now(), (state) => state);
      await this.fanout.flush();
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

  // --- reads by the regions' read views (D30) --------------------------------------------

  /**
   * A read view's read of the user: the presence as both audiences see it, and until when it
   * stays right. A written user registers the view with its relays (UserFanout.watchView); an
   * unwritten one registers nothing, so reading strangers creates no storage (D3), and the view
   * holds it for its lease alone.
   */
  async readForView(view: string): Promise<PresenceSnapshot> {
    const register = this.store.exists() && this.stored().version.counter > 0;
    if (register) this.fanout.watchView(view);
    const [owner, other] = [await this.read("owner"), await this.read("other")];
    return {
      sequenceNumber: owner.view.sequenceNumber,
      changedAt: owner.changedAt,
      validUntil: this.deadline(),
      views: { owner: owner.view, other: other.view },
      written: register,
    };
  }

  /** A view let go of the user: the relays stop sending it changes. */
  async releaseView(view: string): Promise<void> {
    await this.fanout.unwatchView(view);
  }

  // --- writes: each applies one state change and commits it -------------------------------

  async setSession(command: SetSessionCommand): Promise<WriteReceipt | null> {
    return this.write((state, now) => withSession(state, command, now));
  }

  /** `found` is false when the application has no session (the route answers 404). */
  async clearSession(sessionId: string): Promise<{ found: boolean; receipt: WriteReceipt | null }> {
    let found = false;
    const receipt = await this.write((state) => {
      const next = withoutSession(state, sessionId);
      found = next !== null;
      return next ?? state;
    });
    return { found, receipt };
  }

  async setPreferred(command: SetPreferredCommand): Promise<WriteReceipt | null> {
    return this.write((state, now) => withPreferred(state, command, now));
  }

  async clearPreferred(): Promise<WriteReceipt | null> {
    return this.write(withoutPreferred);
  }

  async setStatusMessage(command: SetStatusMessageCommand): Promise<WriteReceipt | null> {
    return this.write((state, now) => withStatusMessage(state, command, now));
  }

  /** setManualLocation / setAutomaticLocation: the signal belongs to the user's current local date. */
  async setWorkLocation(
    layer: WorkLocationLayer,
    source: string,
    workLocationType: WorkLocationType,
    placeId: string | null,
  ): Promise<WriteReceipt | null> {
    return this.write((state, now) => withWorkLocation(state, { layer, source, workLocationType, placeId }, now));
  }

  /** clearAutomaticLocation (one layer) and clearLocation (both layers). */
  async clearWorkLocation(layer?: WorkLocationLayer): Promise<WriteReceipt | null> {
    return this.write((state) => withoutWorkLocation(state, layer));
  }

  /**
   * Merges a PATCH into the stored settings here, in the object, so that two concurrent
   * PATCHes cannot overwrite each other. A refusal comes back as a value, since error classes
   * do not survive RPC.
   */
  async updateMailboxSettings(
    patch: MailboxSettingsPatch,
  ): Promise<{ settings: ReturnType<typeof mailboxSettingsView>; receipt: WriteReceipt | null } | { error: string }> {
    let merged: ReturnType<typeof mergeMailboxSettings>;
    try {
      merged = mergeMailboxSettings(this.stored().state.mailboxSettings, patch);
    } catch (error) {
      if (error instanceof InvalidInput) return { error: error.message };
      throw error;
    }
    const receipt = await this.write((state) => withMailboxSettings(state, merged));
    return { settings: mailboxSettingsView(merged), receipt };
  }

  /** Commits one change now, and answers what the writer's region's read view needs (D30). */
  private async write(change: (state: PresenceState, now: number) => PresenceState): Promise<WriteReceipt | null> {
    const now = Date.now();
    const before = this.stored().version.counter;
    const current = await this.commit(now, change);
    if (current.version.counter === before) return null;
    const views = this.fanout.viewNames();
    const created = before === 0;
    if (views.length === 0 && !created) return null;
    const { views: byAudience, validUntil, sequenceNumber } = this.changeRecord(current, now);
    return {
      snapshot: {
        sequenceNumber,
        changedAt: current.version.changedAt,
        validUntil: validUntil ?? null,
        views: byAudience,
        written: true,
      },
      views,
      created,
    };
  }

  // --- registrations of watchers and subscriptions (held by the relays) ------------------

  /**
   * Registers a watch hub (by name) with the relay of its shard, and returns the current
   * presence as each audience sees it: the hub's starting point, after which the relay sends
   * it every change.
   */
  async watch(hub: string): Promise<WatchDelivery> {
    await this.fanout.watch(hub);
    const [owner, other] = [await this.read("owner"), await this.read("other")];
    return {
      sequenceNumber: owner.view.sequenceNumber,
      messages: {
        owner: presenceMessage(this.userId, owner.view, owner.changedAt),
        other: presenceMessage(this.userId, other.view, other.changedAt),
      },
    };
  }

  async unwatch(hub: string): Promise<void> {
    await this.fanout.unwatch(hub);
  }

  /** A change-notification subscription now covers this user (registered by its registry). */
  async subscribe(subscriptionId: string, appId: string, audience: Audience): Promise<void> {
    await this.fanout.subscribe(subscriptionId, appId, audience);
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    await this.fanout.unsubscribe(subscriptionId);
  }

  /**
   * D29: a user nobody has written, whom nobody watches or subscribes to any more, keeps no
   * storage (watching 650 strangers and letting go must leave nothing behind).
   */
  private async forgetIfUnused(): Promise<void> {
    const { state, version } = this.stored();
    const unused =
      version.counter === 0 &&
      state.sessions.length === 0 &&
      state.preferred === null &&
      state.statusMessage === null &&
      state.workLocationSignals.length === 0 &&
      JSON.stringify(state.mailboxSettings) === JSON.stringify(DEFAULT_MAILBOX_SETTINGS) &&
      this.fanout.isIdle();
    if (!unused || !this.store.exists()) return;
    // Also deletes the alarm.
    await this.ctx.storage.deleteAll();
    this.store.forgetSchema();
    this.fanout.forget();
    this.current = null;
    this.alarmAt = null;
  }

  // --- the commit: settle, store, fan out, arm ---------------------------------------------

  /** The stored presence: the copy in memory, read from storage once after a start (to be settled before use). */
  private stored(): Current {
    if (!this.current) {
      const { presence, fanout } = this.store.load();
      this.fanout.seed(fanout);
      this.current = { ...presence, validUntil: Number.NEGATIVE_INFINITY, views: new Map() };
    }
    return this.current;
  }

  /**
   * Applies `change` to the state as of `now` (what expired already gone), settles it, and
   * writes what differs in one transaction, with the change's record when anyone watches or
   * subscribes; then hands the record to the relays (after the writer has its answer) and arms
   * the alarm at the next deadline. Idempotent: a change that alters nothing writes nothing and
   * sends nothing.
   */
  private async commit(now: number, change: (state: PresenceState, now: number) => PresenceState): Promise<Current> {
    if (!this.legacyAdopted) {
      // Loaded first, as a starting object's first statement reads all it holds and what
      // adoptLegacy needs (PresenceStore.load); `before` is taken after adoptLegacy's awaits.
      this.stored();
      await this.adoptLegacy();
    }
    const before = this.stored();
    const settled = settle(change(withoutExpired(before.state, now), now), before.version, now, this.fade);
    const current: Current = {
      state: settled.state,
      version: settled.version,
      validUntil: settled.nextDeadline ?? Number.POSITIVE_INFINITY,
      views: new Map(),
    };
    const fanOut = settled.changed && this.fanout.hasAudience();
    if (settled.changed || settled.state !== before.state) {
      this.ctx.storage.transactionSync(() => {
        this.store.save(before, current);
        if (fanOut) this.fanout.record(this.changeRecord(current, now));
      });
    }
    this.current = current;
    // The writer's answer goes out before the fan-out starts: relay calls begun in this turn
    // held the answer until the fan-out's local work was done (measured with 500 watchers:
    // answered after 130 ms, against 9 ms when the flush starts a turn later). A timer of 0
    // runs at once and keeps nothing alive, unlike the long timers objects must not use.
    if (fanOut) setTimeout(() => void this.fanout.flush(), 0);
    await this.armAlarm(settled.nextDeadline);
    return current;
  }

  /** D10, D18: what leaves this object of a visible change, whatever the audience: one record. */
  private changeRecord(current: Current, now: number): ChangeRecord {
    return {
      sequenceNumber: formatSequenceNumber(current.version.counter),
      changedAt: now,
      views: { owner: this.viewOf(current, "owner", now), other: this.viewOf(current, "other", now) },
      validUntil: Number.isFinite(current.validUntil) ? current.validUntil : null,
    };
  }

  /**
   * An object written before the fan-out tree kept its subscriptions and notification outbox
   * itself: they are registered with the relays and sent to the queue before its first change
   * here, so an upgrade loses neither (the consumer reads the old jobs' shape). A failure is
   * logged and tried again at the next commit; the commit itself goes on.
   */
  private async adoptLegacy(): Promise<void> {
    try {
      const legacy = this.store.legacy();
      if (legacy) {
        for (const { subscriptionId, appId, audience } of legacy.subscribers) {
          await this.fanout.subscribe(subscriptionId, appId, audience);
        }
        if (legacy.jobs.length > 0) await enqueueJobs(this.env.NOTIFICATIONS, legacy.jobs as NotificationJob[]);
        this.store.dropLegacy();
      }
      this.legacyAdopted = true;
    } catch (error) {
      logError(objectSource("UserPresence", this.ctx), "legacy adoption", error);
    }
  }

  /** When the presence may next change on its own, as the last commit found; null: never. */
  private deadline(): number | null {
    const until = this.current?.validUntil;
    return until !== undefined && Number.isFinite(until) ? until : null;
  }

  /**
   * After the relays took every change: the alarm armed early to send them again (the commit
   * arms it so, in case the object stops before its fan-out) goes back to the next deadline,
   * sparing the object a wake-up per change.
   */
  private async armAlarmAtDeadline(): Promise<void> {
    const deadline = this.deadline();
    if (this.alarmAt === undefined || this.alarmAt === deadline || this.fanout.hasPending()) return;
    if (this.alarmAt !== null && deadline !== null && this.alarmAt > deadline) return;
    // Noted before the storage call, so a commit meanwhile arms its own retry after this one.
    this.alarmAt = deadline;
    if (deadline === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(deadline);
  }

  /** Arms the one alarm at the next deadline, or sooner to send changes a relay did not take. */
  private async armAlarm(deadline: number | null): Promise<void> {
    const retry = this.fanout.hasPending() ? Date.now() + FANOUT_RETRY_MS : null;
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    const change = alarmChange(this.alarmAt, earliest(deadline, retry));
    if (change === "keep") return;
    if (change === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(change);
    this.alarmAt = change;
  }
}
