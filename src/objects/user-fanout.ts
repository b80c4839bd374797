import { CHANGES_PER_CALL, type ChangeRecord, shardOf } from "../domain/fanout";
import type { Audience } from "../domain/model";
import type { Env } from "../env";
import { recordFanout } from "../observability/metrics";
import { logError } from "../shared/log";
import { fanoutRelayStub } from "./names";
import type { PresenceStore, StoredFanout } from "./presence-store";

type Relay = ReturnType<typeof fanoutRelayStub>;

/**
 * The root of one user's fan-out tree (DESIGN.md, "Fan-out"), inside the user's object: which of
 * the user's relay shards hold anyone (the `relay_shards` table), and the changes not yet handed
 * to all of them (the `changes` table: one row per visible change, whatever the audience, written
 * in the commit's transaction). Registrations of hubs and subscriptions pass through here to the
 * relay of their shard. Its work per change is one call per shard that holds anyone: at most
 * RELAY_SHARDS, whatever the audience.
 */
export class UserFanout {
  /** The shards holding anyone (stored; loaded once). */
  private shards: Set<number> | null = null;
  /** The read views registered with the relays (stored; loaded once). */
  private views: Set<string> | null = null;
  /** Registrations in flight per shard: a shard is not given up while one may be adding to it. */
  private readonly registering = new Map<number, number>();
  /** The hand-over in progress: one at a time, so each relay gets the changes in order. */
  private flushing: Promise<void> | null = null;
  /** Whether changes wait to be handed over; null until looked up once after a start (every write asks). */
  private pendingKnown: boolean | null = null;

  constructor(
    private readonly env: Env,
    private readonly sql: SqlStorage,
    private readonly store: PresenceStore,
    private readonly owner: {
      tenantId: string;
      userId: string;
      source: { object: string; name: string };
      /** A relay failed: the owner arms its alarm to send the changes again. */
      retryLater: () => Promise<void>;
      /** Every relay has every change: the owner's alarm need not wait to send them again. */
      delivered: () => Promise<void>;
      /** A shard emptied: the owner may now hold nothing at all (D29). */
      emptied: () => Promise<void>;
    },
  ) {}

  /**
   * What the owner read with the user's presence when it started (PresenceStore.load, one
   * statement for both), so none of it is read again; what this already holds stays.
   */
  seed(rows: StoredFanout): void {
    this.shards ??= new Set(rows.relayShards);
    this.views ??= new Set(rows.readViews);
    this.pendingKnown ??= rows.hasChanges;
  }

  // --- registrations --------------------------------------------------------------------

  watch(hub: string): Promise<void> {
    return this.register(shardOf(hub), (relay) => relay.addWatcher(hub));
  }

  unwatch(hub: string): Promise<void> {
    return this.unregister(shardOf(hub), (relay) => relay.removeWatcher(hub));
  }

  /**
   * A region's read view holds the user from now on (D30); registered once. The view is noted
   * here at once (a write from its region then hands it the change: read-your-writes) and its
   * shard marked, and the relay is told after the view has its answer: the first read of a user
   * does not wait for a relay to start. A change in between may miss the view, which its lease
   * bounds; if the relay cannot be told, the view is forgotten here, to register at its next ask.
   */
  watchView(name: string): void {
    if (this.viewSet().has(name)) return;
    this.sql.exec("INSERT OR IGNORE INTO read_views (name) VALUES (?)", name);
    this.viewSet().add(name);
    this.register(shardOf(name), (relay) => relay.addView(name)).catch((error) => {
      logError(this.owner.source, "read view registration", error, { view: name });
      this.forgetViews([name]);
    });
  }

  async unwatchView(name: string): Promise<void> {
    this.forgetViews([name]);
    await this.unregister(shardOf(name), (relay) => relay.removeView(name));
  }

  /** The read views that hold the user, as far as this object knows. */
  viewNames(): string[] {
    return [...this.viewSet()];
  }

  subscribe(subscriptionId: string, appId: string, audience: Audience): Promise<void> {
    return this.register(shardOf(subscriptionId), (relay) => relay.addSubscriber(subscriptionId, appId, audience));
  }

  unsubscribe(subscriptionId: string): Promise<void> {
    return this.unregister(shardOf(subscriptionId), (relay) => relay.removeSubscriber(subscriptionId));
  }

  // --- changes --------------------------------------------------------------------------

  /** Whether anyone watches or subscribes, so a change has somewhere to go. */
  hasAudience(): boolean {
    return this.activeShards().size > 0;
  }

  /** Records a change for the relays; called in the commit's transaction. */
  record(change: ChangeRecord): void {
    this.pendingKnown = true;
    this.sql.exec(
      "INSERT OR REPLACE INTO changes (sequence, record) VALUES (?, ?)",
      change.sequenceNumber,
      JSON.stringify(change),
    );
  }

  hasPending(): boolean {
    this.pendingKnown ??= this.store.exists() && this.sql.exec("SELECT 1 FROM changes LIMIT 1").toArray().length > 0;
    return this.pendingKnown;
  }

  /** Nothing registered, nothing being registered, nothing to send. */
  isIdle(): boolean {
    return this.activeShards().size === 0 && [...this.registering.values()].every((n) => n === 0) && !this.hasPending();
  }

  /** After the owner deleted its storage. */
  forget(): void {
    this.shards = null;
    this.views = null;
    this.pendingKnown = null;
  }

  /**
   * Hands the recorded changes to every relay that holds anyone, oldest first, a batch at a
   * time, all relays in parallel; a change is deleted once every relay has it. A relay that
   * fails keeps the changes here for the owner's alarm to send again (relays drop repeats).
   * Each batch is one fan-out metric (D31): relays called, hubs reached, and the lag.
   */
  flush(): Promise<void> {
    // Assigned before the loop can finish: `finally` runs a turn later even when nothing was
    // pending, so a flush that ends at once never leaves a settled promise in place of none
    // (which stopped every later flush).
    this.flushing ??= this.sendPending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async sendPending(): Promise<void> {
    const { tenantId, userId, source } = this.owner;
    try {
      for (let batch = this.pending(); batch.length > 0; batch = this.pending()) {
        const shards = [...this.activeShards()];
        const answers = await Promise.allSettled(
          shards.map((shard) => this.relay(shard).deliver(tenantId, userId, batch)),
        );
        let failed = 0;
        let hubs = 0;
        let lastHubAt: number | null = null;
        for (const [i, answer] of answers.entries()) {
          if (answer.status === "rejected") {
            failed++;
            logError(source, "relay delivery", answer.reason, { shard: shards[i] });
          } else {
            // A relay of the previous version (mid-deploy) answers without these.
            const { hubs: reached = 0, hubsAt = null } = answer.value;
            hubs += reached;
            if (hubsAt !== null && (lastHubAt === null || hubsAt > lastHubAt)) lastHubAt = hubsAt;
            this.forgetViews(answer.value.droppedViews ?? []);
            if (answer.value.size === 0) await this.shardEmptied(shards[i] as number);
          }
        }
        if (shards.length > 0) {
          recordFanout(this.env, tenantId, {
            outcome: failed > 0 ? "retry" : "complete",
            lagMs: (lastHubAt ?? Date.now()) - (batch[0] as ChangeRecord).changedAt,
            relays: shards.length,
            hubs,
            changes: batch.length,
            relaysFailed: failed,
          });
        }
        if (failed > 0) return await this.owner.retryLater();
        this.sql.exec("DELETE FROM changes WHERE sequence <= ?", (batch.at(-1) as ChangeRecord).sequenceNumber);
      }
      await this.owner.delivered();
    } catch (error) {
      logError(source, "fan-out", error);
    }
  }

  private pending(): ChangeRecord[] {
    const changes = this.store.exists()
      ? this.sql
          .exec<{ record: string }>("SELECT record FROM changes ORDER BY sequence LIMIT ?", CHANGES_PER_CALL)
          .toArray()
          .map((r) => JSON.parse(r.record) as ChangeRecord)
      : [];
    this.pendingKnown = changes.length > 0;
    return changes;
  }

  // --- shards and views -----------------------------------------------------------------

  private viewSet(): Set<string> {
    this.views ??= this.storedSet<string>("SELECT name AS value FROM read_views");
    return this.views;
  }

  /** The one column `query` selects (as `value`), as a set; empty for a user with no storage. */
  private storedSet<T extends SqlStorageValue>(query: string): Set<T> {
    if (!this.store.exists()) return new Set();
    return new Set(
      this.sql
        .exec<{ value: T }>(query)
        .toArray()
        .map((r) => r.value),
    );
  }

  /** Views the relays forgot (or that let go): the writer's Worker need not update them any more. */
  private forgetViews(names: readonly string[]): void {
    for (const name of names) {
      if (this.viewSet().delete(name)) this.sql.exec("DELETE FROM read_views WHERE name = ?", name);
    }
  }

  private relay(shard: number): Relay {
    return fanoutRelayStub(this.env, this.owner.tenantId, this.owner.userId, shard);
  }

  private activeShards(): Set<number> {
    this.shards ??= this.storedSet<number>("SELECT shard AS value FROM relay_shards");
    return this.shards;
  }

  /**
   * Marks the shard as holding someone before the relay is asked to add the registration, so a
   * change committed meanwhile is recorded for it (the snapshot the owner takes after covers
   * what came before).
   */
  private async register(shard: number, add: (relay: Relay) => Promise<{ size: number }>): Promise<void> {
    this.registering.set(shard, (this.registering.get(shard) ?? 0) + 1);
    try {
      if (!this.activeShards().has(shard)) {
        this.store.ensureSchema();
        this.sql.exec("INSERT OR IGNORE INTO relay_shards (shard) VALUES (?)", shard);
        this.activeShards().add(shard);
      }
      await add(this.relay(shard));
    } finally {
      this.registering.set(shard, (this.registering.get(shard) ?? 1) - 1);
    }
  }

  private async unregister(shard: number, remove: (relay: Relay) => Promise<{ size: number }>): Promise<void> {
    const { size } = await remove(this.relay(shard));
    if (size === 0) await this.shardEmptied(shard);
  }

  /** A relay said it holds nobody: stop calling it, unless a registration may be adding to it now. */
  private async shardEmptied(shard: number): Promise<void> {
    if ((this.registering.get(shard) ?? 0) > 0 || !this.activeShards().has(shard)) return;
    this.activeShards().delete(shard);
    this.sql.exec("DELETE FROM relay_shards WHERE shard = ?", shard);
    await this.owner.emptied();
  }
}
