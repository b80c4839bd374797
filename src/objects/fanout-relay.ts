import { DurableObject } from "cloudflare:workers";
import { type ChangeRecord, type WatchDelivery, watchDelivery } from "../domain/fanout";
import type { Audience } from "../domain/model";
import type { Env } from "../env";
import { changeJobs, enqueueJobs, type SubscriberItem } from "../notifications/jobs";
import { logError, objectSource } from "../shared/log";
import { hasTable } from "../shared/sqlite";
import { presenceHubStub } from "./names";

/** A hub that fails this many deliveries in a row is taken for gone. */
const HUB_FAILURES_BEFORE_DROP = 3;

/**
 * One share of one user's audience, named `{tenantId}:{userId}:{shard}` (domain/fanout.ts):
 * the watch hubs and webhook subscriptions whose key hashes to this shard. The user's object
 * hands it each change (in order, one batch at a time); it writes the webhook jobs to the
 * queue and passes the watch messages to its hubs, in parallel with the other shards. What it
 * holds is bounded by the number of hubs in a tenant's pool and by the subscription quotas,
 * divided by the number of shards; it keeps no storage once it holds nobody (D29).
 */
export class FanoutRelay extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Hub names, each with how often it registered (so a prune never undoes a newer registration). */
  private hubs: Map<string, number> | null = null;
  private subscribers: Map<string, SubscriberItem> | null = null;
  private readonly hubFailures = new Map<string, number>();
  /**
   * The newest change each hub has taken, so a batch sent again (after another hub failed) goes
   * only to the hubs that lack it: a watcher never gets a change twice. Memory only; the user's
   * object sends a batch again within seconds, long before an idle relay is evicted.
   */
  private readonly sentTo = new Map<string, string>();
  /** The newest change whose webhook jobs are on the queue, so a batch sent again is not queued twice. */
  private queuedThrough = "";

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  async addWatcher(hub: string): Promise<{ size: number }> {
    const hubs = this.hubMap();
    if (!hubs.has(hub)) {
      this.ensureSchema();
      this.sql.exec("INSERT OR REPLACE INTO watchers (hub) VALUES (?)", hub);
    }
    hubs.set(hub, (hubs.get(hub) ?? 0) + 1);
    return { size: this.size() };
  }

  async removeWatcher(hub: string): Promise<{ size: number }> {
    if (this.hubMap().delete(hub)) this.sql.exec("DELETE FROM watchers WHERE hub = ?", hub);
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
   * Passes on `changes` (oldest first) of user `userId`: the webhook jobs to the queue and the
   * watch messages to every hub, at the same time, so sockets do not wait for the queue. Answers
   * how many it holds, so the user's object can stop calling an empty shard. Throws when the
   * queue or a hub could not take a change: the user's object sends the batch again later, and
   * what was passed on is not repeated (hubs drop what they already have; queued jobs are
   * remembered).
   */
  async deliver(tenantId: string, userId: string, changes: ChangeRecord[]): Promise<{ size: number }> {
    if (changes.length === 0) return { size: this.size() };
    const [queued, delivered] = await Promise.allSettled([
      this.queueJobs(tenantId, userId, changes),
      this.deliverToHubs(
        userId,
        changes.map((change) => watchDelivery(userId, change)),
      ),
    ]);
    if (queued.status === "rejected") throw queued.reason;
    if (delivered.status === "rejected") throw delivered.reason;
    if (delivered.value > 0) throw new Error(`${delivered.value} hub(s) did not take the change`);
    return { size: await this.forgetIfEmpty() };
  }

  /** Queues the webhook jobs of the changes not queued before, and remembers the last one queued. */
  private async queueJobs(tenantId: string, userId: string, changes: ChangeRecord[]): Promise<void> {
    const last = changes.at(-1) as ChangeRecord;
    const subscribers = [...this.subscriberMap().values()];
    const unqueued = changes.filter((c) => c.sequenceNumber > this.queuedThrough);
    if (subscribers.length > 0 && unqueued.length > 0) {
      const now = Date.now();
      await enqueueJobs(
        this.env.NOTIFICATIONS,
        unqueued.flatMap((change) => changeJobs(tenantId, userId, change, subscribers, now)),
      );
    }
    if (last.sequenceNumber > this.queuedThrough) this.queuedThrough = last.sequenceNumber;
  }

  /** Sends each hub what it lacks, all at once; forgets hubs that no longer watch the user. Returns the failures. */
  private async deliverToHubs(userId: string, deliveries: WatchDelivery[]): Promise<number> {
    const last = (deliveries.at(-1) as WatchDelivery).sequenceNumber;
    const hubs = [...this.hubMap()].filter(([hub]) => (this.sentTo.get(hub) ?? "") < last);
    const answers = await Promise.allSettled(
      hubs.map(([hub]) => {
        const had = this.sentTo.get(hub) ?? "";
        return presenceHubStub(this.env, hub).deliver(
          userId,
          deliveries.filter((d) => d.sequenceNumber > had),
        );
      }),
    );
    let failures = 0;
    answers.forEach((answer, i) => {
      const [hub, registrations] = hubs[i] as [string, number];
      if (answer.status === "fulfilled") {
        this.hubFailures.delete(hub);
        this.sentTo.set(hub, last);
        // A hub that registered again meanwhile keeps its registration.
        if (!answer.value && this.hubMap().get(hub) === registrations) this.dropHub(hub);
        return;
      }
      const count = (this.hubFailures.get(hub) ?? 0) + 1;
      logError(objectSource("FanoutRelay", this.ctx), "hub delivery", answer.reason, { hub, failures: count });
      if (count >= HUB_FAILURES_BEFORE_DROP) this.dropHub(hub);
      else {
        this.hubFailures.set(hub, count);
        failures++;
      }
    });
    return failures;
  }

  private dropHub(hub: string): void {
    this.hubFailures.delete(hub);
    this.sentTo.delete(hub);
    if (this.hubMap().delete(hub)) this.sql.exec("DELETE FROM watchers WHERE hub = ?", hub);
  }

  private size(): number {
    return this.hubMap().size + this.subscriberMap().size;
  }

  /** D29: a relay that holds nobody keeps no storage. Returns the size. */
  private async forgetIfEmpty(): Promise<number> {
    const size = this.size();
    if (size === 0 && this.exists()) {
      await this.ctx.storage.deleteAll();
      this.hubs = null;
      this.subscribers = null;
    }
    return size;
  }

  private exists(): boolean {
    return hasTable(this.sql, "watchers");
  }

  private ensureSchema(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS watchers (hub TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS subscribers (subscription_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, audience TEXT NOT NULL);`);
  }

  private hubMap(): Map<string, number> {
    this.hubs ??= new Map(
      this.exists()
        ? this.sql
            .exec<{ hub: string }>("SELECT hub FROM watchers")
            .toArray()
            .map((r) => [r.hub, 0])
        : [],
    );
    return this.hubs;
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
