import { DurableObject } from "cloudflare:workers";
import { chunk } from "../domain/fanout";
import { audienceForSubscription, LIFECYCLE_NOTICE_MS, type SubscriptionRecord } from "../domain/subscriptions";
import type { Env } from "../env";
import { enqueueJobs } from "../notifications/jobs";
import { logError, objectSource } from "../shared/log";
import { mapWithConcurrency } from "../shared/map-with-concurrency";
import { MAX_BOUND_VALUES, placeholders } from "../shared/sqlite";
import { userPresenceStub } from "./names";

const USER_CALL_CONCURRENCY = 32;

type Row = { json: string };

/**
 * One application's presence subscriptions in one tenant, named
 * `{tenantId}:{appId}`: so a caller can only ever see its own app's
 * subscriptions. It registers each subscription with the users it covers,
 * sends the reauthorizationRequired lifecycle notification before expiry, and
 * deletes expired subscriptions through its alarm.
 */
export class SubscriptionRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // notice_at: when the lifecycle notification is due (null once sent, or without a lifecycle URL).
    this.sql.exec(`CREATE TABLE IF NOT EXISTS subscriptions (
      id TEXT PRIMARY KEY,
      json TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      notice_at INTEGER,
      notification_url TEXT NOT NULL,
      canonical_resource TEXT NOT NULL
    )`);
  }

  /**
   * Stores a new subscription; or names the one it duplicates (D17: same URL
   * and resource), or the quota it would exceed (D26: at most `maxActive`).
   */
  async create(
    record: SubscriptionRecord,
    maxActive: number,
  ): Promise<{ created: SubscriptionRecord } | { duplicateOf: string } | { overQuota: number }> {
    // Counted and inserted with no await between: concurrent creates cannot both take the last place.
    if (this.activeCount() >= maxActive) return { overQuota: maxActive };
    // Expired rows are invisible at once, even before the alarm removes them.
    const [duplicate] = this.sql
      .exec<{ id: string }>(
        "SELECT id FROM subscriptions WHERE notification_url = ? AND canonical_resource = ? AND expires_at > ?",
        record.notificationUrl,
        record.canonicalResource,
        Date.now(),
      )
      .toArray();
    if (duplicate) return { duplicateOf: duplicate.id };
    this.write(record, noticeAt(record));
    await mapWithConcurrency(record.userIds, USER_CALL_CONCURRENCY, (userId) =>
      userPresenceStub(this.env, record.tenantId, userId).subscribe(
        record.id,
        record.applicationId,
        audienceForSubscription(record, userId),
      ),
    );
    await this.armAlarm();
    return { created: record };
  }

  /** Subscriptions not yet expired (D26 counts these). */
  activeCount(): number {
    const [row] = this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM subscriptions WHERE expires_at > ?", Date.now())
      .toArray();
    return row?.n ?? 0;
  }

  async list(): Promise<SubscriptionRecord[]> {
    return this.sql
      .exec<Row>("SELECT json FROM subscriptions WHERE expires_at > ? ORDER BY expires_at", Date.now())
      .toArray()
      .map((r) => JSON.parse(r.json) as SubscriptionRecord);
  }

  async get(id: string): Promise<SubscriptionRecord | null> {
    const [row] = this.sql
      .exec<Row & { expires_at: number }>("SELECT json, expires_at FROM subscriptions WHERE id = ?", id)
      .toArray();
    return row && row.expires_at > Date.now() ? (JSON.parse(row.json) as SubscriptionRecord) : null;
  }

  /** The live subscriptions among `ids`, for a delivery batch (thousands, for a popular user). */
  async getMany(ids: string[]): Promise<SubscriptionRecord[]> {
    const now = Date.now();
    // One value is `now`; the rest are ids.
    return chunk(ids, MAX_BOUND_VALUES - 1).flatMap((slice) =>
      this.sql
        .exec<Row>(
          `SELECT json FROM subscriptions WHERE expires_at > ? AND id IN (${placeholders(slice.length)})`,
          now,
          ...slice,
        )
        .toArray()
        .map((r) => JSON.parse(r.json) as SubscriptionRecord),
    );
  }

  /** Replaces a subscription's changeable fields (PATCH); renewing resets the lifecycle notice. */
  async update(record: SubscriptionRecord): Promise<SubscriptionRecord | null> {
    if (!(await this.get(record.id))) return null;
    this.write(record, noticeAt(record));
    await this.armAlarm();
    return record;
  }

  async reauthorize(id: string): Promise<boolean> {
    const record = await this.get(id);
    if (!record) return false;
    this.write(record, noticeAt(record));
    await this.armAlarm();
    return true;
  }

  /** Deletes a subscription and unregisters it from every user it covered. */
  async remove(id: string): Promise<boolean> {
    const record = await this.get(id);
    if (!record) return false;
    await this.forget(record);
    await this.armAlarm();
    return true;
  }

  override async alarm(): Promise<void> {
    try {
      await this.sendNoticesAndExpire(Date.now());
    } catch (error) {
      logError(objectSource("SubscriptionRegistry", this.ctx), "alarm", error);
      // Rethrown so the runtime retries the alarm (at-least-once; each step is idempotent).
      throw error;
    }
  }

  /** Lifecycle notices that are due (5 minutes before expiry), then expired subscriptions, then the next alarm. */
  private async sendNoticesAndExpire(now: number): Promise<void> {
    const due = this.sql
      .exec<Row>(
        "SELECT json FROM subscriptions WHERE notice_at IS NOT NULL AND notice_at <= ? AND expires_at > ?",
        now,
        now,
      )
      .toArray()
      .map((r) => JSON.parse(r.json) as SubscriptionRecord);
    if (due.length > 0) {
      await enqueueJobs(
        this.env.NOTIFICATIONS,
        due.map((s) => ({
          kind: "lifecycle",
          tenantId: s.tenantId,
          appId: s.applicationId,
          subscriptionId: s.id,
          lifecycleEvent: "reauthorizationRequired",
          firstAttemptAt: now,
        })),
      );
      for (const s of due) this.sql.exec("UPDATE subscriptions SET notice_at = NULL WHERE id = ?", s.id);
    }
    for (const record of this.expired(now)) await this.forget(record);
    await this.armAlarm();
  }

  private write(record: SubscriptionRecord, notice: number | null): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO subscriptions (id, json, expires_at, notice_at, notification_url, canonical_resource)
       VALUES (?, ?, ?, ?, ?, ?)`,
      record.id,
      JSON.stringify(record),
      record.expiresAt,
      notice,
      record.notificationUrl,
      record.canonicalResource,
    );
  }

  private expired(now: number): SubscriptionRecord[] {
    return this.sql
      .exec<Row>("SELECT json FROM subscriptions WHERE expires_at <= ?", now)
      .toArray()
      .map((r) => JSON.parse(r.json) as SubscriptionRecord);
  }

  private async forget(record: SubscriptionRecord): Promise<void> {
    this.sql.exec("DELETE FROM subscriptions WHERE id = ?", record.id);
    await mapWithConcurrency(record.userIds, USER_CALL_CONCURRENCY, (userId) =>
      userPresenceStub(this.env, record.tenantId, userId).unsubscribe(record.id),
    );
  }

  private async armAlarm(): Promise<void> {
    const [next] = this.sql
      .exec<{ at: number | null }>(
        "SELECT MIN(MIN(expires_at), COALESCE(MIN(notice_at), MIN(expires_at))) AS at FROM subscriptions",
      )
      .toArray();
    if (next?.at === null || next?.at === undefined) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next.at);
  }
}

/** The lifecycle notice is due LIFECYCLE_NOTICE_MS before expiry, or at once for a shorter life. */
function noticeAt(record: SubscriptionRecord): number | null {
  return record.lifecycleNotificationUrl ? record.expiresAt - LIFECYCLE_NOTICE_MS : null;
}
