import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { NotificationJob } from "../notifications/jobs";
import { logError, objectSource } from "../shared/log";
import { hasTable } from "../shared/sqlite";

/** D31: a dead letter is kept this long, then deleted. */
export const DEAD_LETTER_DAYS = 7;
const KEEP_MS = DEAD_LETTER_DAYS * 24 * 60 * 60_000;
/** At most this many dead letters per (tenant, app); past it the oldest go first (D26-style quota). */
export const DEAD_LETTERS_PER_APP = 10_000;
/** At most this many letters in one answer. */
export const DEAD_LETTERS_PER_PAGE = 100;

/** A notification that could not be delivered, for one subscription. */
export interface DeadLetter {
  subscriptionId: string;
  /** Why it was given up: retries ran out, or the subscription ended while it was retried. */
  reason: string;
  lastStatus: string | null;
  attempts: number;
  /** The job narrowed to this one subscription: what a replay sends again. */
  job: NotificationJob;
}

export interface StoredDeadLetter extends DeadLetter {
  id: number;
  keptAt: number;
}

type Row = {
  id: number;
  subscription_id: string;
  kept_at: number;
  reason: string;
  last_status: string | null;
  attempts: number;
  job: string;
};

/**
 * One application's dead letters in one tenant, named `{tenantId}:{appId}` like its subscription
 * registry, so an operator's question about a tenant never touches another's (D2). It keeps each
 * letter for DEAD_LETTER_DAYS (its alarm deletes the older ones) and at most DEAD_LETTERS_PER_APP;
 * holding none, it keeps no storage.
 */
export class DeadLetterStore extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }

  async keep(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscription_id TEXT NOT NULL,
        kept_at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        last_status TEXT,
        attempts INTEGER NOT NULL,
        job TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS letters_by_subscription ON letters (subscription_id, id);`);
    const now = Date.now();
    for (const l of letters) {
      this.sql.exec(
        "INSERT INTO letters (subscription_id, kept_at, reason, last_status, attempts, job) VALUES (?, ?, ?, ?, ?, ?)",
        l.subscriptionId,
        now,
        l.reason,
        l.lastStatus,
        l.attempts,
        JSON.stringify(l.job),
      );
    }
    const over = this.count() - DEAD_LETTERS_PER_APP;
    if (over > 0) {
      this.sql.exec("DELETE FROM letters WHERE id IN (SELECT id FROM letters ORDER BY id LIMIT ?)", over);
      logError(objectSource("DeadLetterStore", this.ctx), "dead letters over quota", undefined, {
        deleted: over,
        quota: DEAD_LETTERS_PER_APP,
      });
    }
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + KEEP_MS);
  }

  /** The letters after `after` (oldest first), of one subscription or all; at most a page. */
  async list(subscriptionId: string | null, after: number): Promise<StoredDeadLetter[]> {
    if (!hasTable(this.sql, "letters")) return [];
    const rows = subscriptionId
      ? this.sql.exec<Row>(
          "SELECT * FROM letters WHERE subscription_id = ? AND id > ? ORDER BY id LIMIT ?",
          subscriptionId,
          after,
          DEAD_LETTERS_PER_PAGE,
        )
      : this.sql.exec<Row>("SELECT * FROM letters WHERE id > ? ORDER BY id LIMIT ?", after, DEAD_LETTERS_PER_PAGE);
    return rows.toArray().map((r) => ({
      id: r.id,
      subscriptionId: r.subscription_id,
      keptAt: r.kept_at,
      reason: r.reason,
      lastStatus: r.last_status,
      attempts: r.attempts,
      job: JSON.parse(r.job) as NotificationJob,
    }));
  }

  /** After a replay sent them: they are no longer dead. */
  async remove(ids: number[]): Promise<void> {
    if (!hasTable(this.sql, "letters")) return;
    for (const id of ids) this.sql.exec("DELETE FROM letters WHERE id = ?", id);
    await this.forgetIfEmpty();
  }

  /** D31: letters older than 7 days go. */
  override async alarm(): Promise<void> {
    if (!hasTable(this.sql, "letters")) return;
    this.sql.exec("DELETE FROM letters WHERE kept_at <= ?", Date.now() - KEEP_MS);
    if (await this.forgetIfEmpty()) return;
    const oldest = this.sql.exec<{ at: number }>("SELECT MIN(kept_at) AS at FROM letters").one().at;
    await this.ctx.storage.setAlarm(oldest + KEEP_MS);
  }

  private count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM letters").one().n;
  }

  /** Holding no letter, the store keeps no storage (nor its alarm). */
  private async forgetIfEmpty(): Promise<boolean> {
    if (this.count() > 0) return false;
    await this.ctx.storage.deleteAll();
    return true;
  }
}
