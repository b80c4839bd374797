import { DurableObject } from "cloudflare:workers";
import { type ChangeRecord, watchDelivery } from "../domain/fanout";
import type { Audience } from "../domain/model";
import type { Env } from "../env";
import { changeJobs, type NotificationJob, type SubscriberItem } from "../notifications/jobs";
import { logError, objectSource } from "../shared/log";
import { hasTable } from "../shared/sqlite";
import { presenceHubStub, readViewStub } from "./names";
import { NotificationOutbox, type Settlement } from "./notification-outbox";

/** A hub or read view that fails this many deliveries in a row is taken for gone. */
const FAILURES_BEFORE_DROP = 3;

/** What a relay passes changes to: watch hubs, and read views (D30), each kept in a table of its own. */
type TargetKind = "hub" | "view";
const TARGET_TABLES: Record<TargetKind, { table: string; column: string }> = {
  hub: { table: "watchers", column: "hub" },
  view: { table: "read_views", column: "name" },
};

/**
 * One share of one user's audience, named `{tenantId}:{userId}:{shard}` (domain/fanout.ts):
 * the watch hubs, read views (D30) and webhook subscriptions whose key hashes to this shard. The
 * user's object hands it each change (in order, one batch at a time); it writes the webhook jobs
 * to the queue and passes the changes to its hubs and views, in parallel with the other shards.
 * What it holds is bounded by the number of hubs in a tenant's pool, the regions' views of the
 * user and the subscription quotas, divided by the number of shards; it keeps no storage once it
 * holds nobody and owes no notification (D29). Its webhook jobs stay in its outbox until the
 * consumer reports them delivered or dead-lettered (objects/notification-outbox.ts).
 */
export class FanoutRelay extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Hub and view names, each with how often it registered (so a prune never undoes a newer registration). */
  private targets: Record<TargetKind, Map<string, number>> | null = null;
  private subscribers: Map<string, SubscriberItem> | null = null;
  /** Deliveries failed in a row, per target (`{kind} {name}`). */
  private readonly failures = new Map<string, number>();
  /**
   * The newest change each target has taken (by `{kind} {name}`), so a batch sent again (after
   * another target failed) goes only to those that lack it: a watcher never gets a change twice.
   * Memory only; the user's object sends a batch again within seconds, long before an idle relay
   * is evicted.
   */
  private readonly sentTo = new Map<string, string>();
  /** The newest change whose webhook jobs are on the queue, so a batch sent again is not queued twice. */
  private queuedThrough = "";
  private readonly outbox: NotificationOutbox;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.outbox = new NotificationOutbox(ctx, env, objectSource("FanoutRelay", ctx));
  }

  /** The consumer's word on this relay's jobs (delivered, dead-lettered, or to try again). */
  async settleJobs(settlements: Settlement[]): Promise<void> {
    await this.outbox.settle(settlements);
    await this.forgetIfEmpty();
  }

  /** Jobs sent again from the dead-letter store (an operator's replay): kept and sent like new ones. */
  async adoptJobs(jobs: { id: string; job: NotificationJob }[]): Promise<void> {
    await this.outbox.add(jobs);
  }

  /** Queues the jobs that are due: retries, and jobs the consumer never reported on. */
  override async alarm(): Promise<void> {
    await this.outbox.alarm();
    await this.forgetIfEmpty();
  }

  addWatcher(hub: string): Promise<{ size: number }> {
    return this.addTarget("hub", hub);
  }

  removeWatcher(hub: string): Promise<{ size: number }> {
    return this.removeTarget("hub", hub);
  }

  /** A region's read view now holds the user (D30). */
  addView(name: string): Promise<{ size: number }> {
    return this.addTarget("view", name);
  }

  removeView(name: string): Promise<{ size: number }> {
    return this.removeTarget("view", name);
  }

  private async addTarget(kind: TargetKind, name: string): Promise<{ size: number }> {
    const targets = this.targetMap()[kind];
    if (!targets.has(name)) {
      this.ensureSchema();
      const { table, column } = TARGET_TABLES[kind];
      this.sql.exec(`INSERT OR REPLACE INTO ${table} (${column}) VALUES (?)`, name);
    }
    targets.set(name, (targets.get(name) ?? 0) + 1);
    return { size: this.size() };
  }

  private async removeTarget(kind: TargetKind, name: string): Promise<{ size: number }> {
    this.dropTarget(kind, name);
    return { size: await this.forgetIfEmpty() };
  }

  async addSubscriber(subscriptionId: string, appId: string, audience: Audience): Promise<{ size: number }> {
    this.ensureSchema();
    this.sql.exec(
      "INSERT OR REPLACE INTO subscribers (subscription_id, app_id, audience) VALUES (?, ?, ?)",
      subscriptionId,
      appId,
      audience,
    );
    this.subscriberMap().set(subscriptionId, { subscriptionId, appId, audience });
    return { size: this.size() };
  }

  async removeSubscriber(subscriptionId: string): Promise<{ size: number }> {
    if (this.subscriberMap().delete(subscriptionId)) {
      this.sql.exec("DELETE FROM subscribers WHERE subscription_id = ?", subscriptionId);
    }
    return { size: await this.forgetIfEmpty() };
  }

  /**
   * Passes on `changes` (oldest first) of user `userId`: the webhook jobs to the queue, the watch
   * messages to every hub and the changes to every read view, all at the same time, so sockets
   * do not wait for the queue. Answers how many it holds, so the user's object can stop calling
   * an empty shard, and which views it forgot (they no longer hold the user). Throws when the
   * queue, a hub or a view could not take a change: the user's object sends the batch again
   * later, and what was passed on is not repeated (targets drop what they already have; queued
   * jobs are remembered). For the fan-out's metric (D31) it also answers how many hubs took the
   * batch, and when the last of them answered (null if none was sent it).
   */
  async deliver(
    tenantId: string,
    userId: string,
    changes: ChangeRecord[],
  ): Promise<{ size: number; droppedViews: string[]; hubs: number; hubsAt: number | null }> {
    if (changes.length === 0) return { size: this.size(), droppedViews: [], hubs: 0, hubsAt: null };
    const last = (changes.at(-1) as ChangeRecord).sequenceNumber;
    const deliveries = this.targetMap().hub.size > 0 ? changes.map((change) => watchDelivery(userId, change)) : [];
    const [queued, toHubs, toViews] = await Promise.allSettled([
      this.queueJobs(tenantId, userId, changes),
      this.deliverTo("hub", last, (hub, had) =>
        presenceHubStub(this.env, hub).deliver(
          userId,
          deliveries.filter((d) => d.sequenceNumber > had),
        ),
      ),
      this.deliverTo("view", last, (view, had) =>
        readViewStub(this.env, view).deliver(
          userId,
          changes.filter((c) => c.sequenceNumber > had),
        ),
      ),
    ]);
    if (queued.status === "rejected") throw queued.reason;
    for (const delivered of [toHubs, toViews]) {
      if (delivered.status === "rejected") throw delivered.reason;
      if (delivered.value.failures > 0)
        throw new Error(`${delivered.value.failures} target(s) did not take the change`);
    }
    const droppedViews = toViews.status === "fulfilled" ? toViews.value.dropped : [];
    const hubs = toHubs.status === "fulfilled" ? toHubs.value : { reached: 0, at: null };
    return { size: await this.forgetIfEmpty(), droppedViews, hubs: hubs.reached, hubsAt: hubs.at };
  }

  /**
   * Puts the webhook jobs of the changes not queued before in the outbox (which queues them), and
   * remembers the last one. Once they are stored the relay owes them, whatever the queue does.
   */
  private async queueJobs(tenantId: string, userId: string, changes: ChangeRecord[]): Promise<void> {
    const last = changes.at(-1) as ChangeRecord;
    const subscribers = [...this.subscriberMap().values()];
    const unqueued = changes.filter((c) => c.sequenceNumber > this.queuedThrough);
    if (subscribers.length > 0 && unqueued.length > 0) {
      const now = Date.now();
      await this.outbox.add(
        unqueued.flatMap((change) =>
          changeJobs(tenantId, userId, change, subscribers, now).map((job, i) => ({
            id: `${change.sequenceNumber}:${i}`,
            job,
          })),
        ),
      );
    }
    if (last.sequenceNumber > this.queuedThrough) this.queuedThrough = last.sequenceNumber;
  }

  /**
   * Sends each target of `kind` what it lacks (after the sequenceNumber it has), all at once;
   * forgets those that answer they no longer hold the user, and those that failed too often.
   * Returns how many failed, how many took it for the user, when the last answered (null: none
   * was sent it), and the names forgotten.
   */
  private async deliverTo(
    kind: TargetKind,
    last: string,
    send: (name: string, had: string) => Promise<boolean>,
  ): Promise<{ failures: number; reached: number; at: number | null; dropped: string[] }> {
    const key = (name: string) => `${kind} ${name}`;
    const targets = [...this.targetMap()[kind]].filter(([name]) => (this.sentTo.get(key(name)) ?? "") < last);
    const answers = await Promise.allSettled(targets.map(([name]) => send(name, this.sentTo.get(key(name)) ?? "")));
    const at = targets.length > 0 ? Date.now() : null;
    let reached = 0;
    let failures = 0;
    const dropped: string[] = [];
    answers.forEach((answer, i) => {
      const [name, registrations] = targets[i] as [string, number];
      if (answer.status === "fulfilled") {
        // Reached: it took the change and still holds the user.
        if (answer.value) reached++;
        this.failures.delete(key(name));
        this.sentTo.set(key(name), last);
        // A target that registered again meanwhile keeps its registration.
        if (!answer.value && this.targetMap()[kind].get(name) === registrations) {
          this.dropTarget(kind, name);
          dropped.push(name);
        }
        return;
      }
      const count = (this.failures.get(key(name)) ?? 0) + 1;
      logError(objectSource("FanoutRelay", this.ctx), `${kind} delivery`, answer.reason, {
        [kind]: name,
        failures: count,
      });
      if (count >= FAILURES_BEFORE_DROP) {
        this.dropTarget(kind, name);
        dropped.push(name);
      } else {
        this.failures.set(key(name), count);
        failures++;
      }
    });
    return { failures, reached, at, dropped };
  }

  private dropTarget(kind: TargetKind, name: string): void {
    this.failures.delete(`${kind} ${name}`);
    this.sentTo.delete(`${kind} ${name}`);
    if (this.targetMap()[kind].delete(name)) {
      const { table, column } = TARGET_TABLES[kind];
      this.sql.exec(`DELETE FROM ${table} WHERE ${column} = ?`, name);
    }
  }

  private size(): number {
    const { hub, view } = this.targetMap();
    return hub.size + view.size + this.subscriberMap().size;
  }

  /** D29: a relay that holds nobody and owes no notification keeps no storage. Returns the size. */
  private async forgetIfEmpty(): Promise<number> {
    const size = this.size();
    if (size === 0 && this.outbox.isEmpty() && (this.exists() || hasTable(this.sql, "outbox"))) {
      await this.ctx.storage.deleteAll();
      this.targets = null;
      this.subscribers = null;
      this.outbox.forget();
    }
    return size;
  }

  private exists(): boolean {
    return hasTable(this.sql, "watchers");
  }

  /** A relay written before read views has no `read_views` table: it gets one on its next registration. */
  private ensureSchema(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS watchers (hub TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS read_views (name TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS subscribers (subscription_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, audience TEXT NOT NULL);`);
  }

  private targetMap(): Record<TargetKind, Map<string, number>> {
    this.targets ??= { hub: this.loadTargets("hub"), view: this.loadTargets("view") };
    return this.targets;
  }

  private loadTargets(kind: TargetKind): Map<string, number> {
    const { table, column } = TARGET_TABLES[kind];
    if (!this.exists() || !hasTable(this.sql, table)) return new Map();
    return new Map(
      this.sql
        .exec<Record<string, string>>(`SELECT ${column} AS name FROM ${table}`)
        .toArray()
        .map((r) => [r.name as string, 0]),
    );
  }

  private subscriberMap(): Map<string, SubscriberItem> {
    this.subscribers ??= new Map(
      this.exists()
        ? this.sql
            .exec<{ subscription_id: string; app_id: string; audience: string }>("SELECT * FROM subscribers")
            .toArray()
            .map((r) => [
              r.subscription_id,
              { subscriptionId: r.subscription_id, appId: r.app_id, audience: r.audience as Audience },
            ])
        : [],
    );
    return this.subscribers;
  }
}
