import type { Env } from "../env";
import { enqueueJobs, type NotificationJob } from "../notifications/jobs";
import { logError } from "../shared/log";
import { hasTable } from "../shared/sqlite";

/**
 * How long a job may be on the queue without word from the consumer before it is queued again:
 * the queue lost it (the local emulation keeps messages in memory only) or the consumer died
 * with it. Doubles with each silent send, up to MAX_LEASE_MS, so a backlogged queue is not
 * flooded with copies.
 */
export const OUTBOX_LEASE_MS = 30_000;
const MAX_LEASE_MS = 10 * 60_000;
/** Jobs queued again per alarm; the rest go at the next alarm, set at once. */
const SENDS_PER_ALARM = 500;

/** What the consumer found for one job: delivered (or nothing left to send), or to try again. */
export interface Settlement {
  id: string;
  /** The job to try again (only the subscriptions that failed), and when. */
  again?: NotificationJob;
  delaySeconds?: number;
}

/**
 * The notification jobs a Durable Object owes receivers (DESIGN.md, "Change notifications"): each
 * stays in its `outbox` table from the moment the object takes it until the consumer reports it
 * delivered or dead-lettered. The queue only wakes the consumer: the object queues a job, then
 * again after a failure at the retry's time (the consumer says when), and again when its lease
 * runs out without word. So a runtime killed with the job on the queue, or waiting for its retry,
 * sends it after the restart; the price is that a job may be delivered twice, never not at all.
 */
export class NotificationOutbox {
  /** The alarm as this outbox last set it; undefined until read after a start. */
  private alarmAt: number | null | undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly source: { object: string; name: string },
  ) {}

  isEmpty(): boolean {
    return (
      !hasTable(this.ctx.storage.sql, "outbox") ||
      this.sql().exec("SELECT 1 FROM outbox LIMIT 1").toArray().length === 0
    );
  }

  /** After the owner deleted its storage (and with it the alarm). */
  forget(): void {
    this.alarmAt = null;
  }

  /** Keeps `jobs` (ignoring ids it holds already), then queues them; if the queue fails, the alarm sends them. */
  async add(jobs: readonly { id: string; job: NotificationJob }[]): Promise<void> {
    if (jobs.length === 0) return;
    const due = Date.now() + OUTBOX_LEASE_MS;
    this.sql().exec(`CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, job TEXT NOT NULL, due INTEGER NOT NULL, sends INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due);`);
    const added = jobs.filter(
      ({ id, job }) =>
        this.sql().exec(
          "INSERT OR IGNORE INTO outbox (id, job, due, sends) VALUES (?, ?, ?, 1)",
          id,
          JSON.stringify(job),
          due,
        ).rowsWritten > 0,
    );
    await this.armAt(due);
    await this.send(added);
  }

  /** The consumer's word on jobs of this outbox: each is deleted, or kept to be queued again later. */
  async settle(settlements: readonly Settlement[]): Promise<void> {
    if (!hasTable(this.ctx.storage.sql, "outbox")) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const { id, again, delaySeconds } of settlements) {
      if (!again) {
        this.sql().exec("DELETE FROM outbox WHERE id = ?", id);
        continue;
      }
      const due = Date.now() + (delaySeconds ?? 0) * 1000;
      const { outbox: _ref, ...job } = again;
      if (
        this.sql().exec("UPDATE outbox SET job = ?, due = ?, sends = 0 WHERE id = ?", JSON.stringify(job), due, id)
          .rowsWritten > 0
      ) {
        earliest = Math.min(earliest, due);
      }
    }
    if (Number.isFinite(earliest)) await this.armAt(earliest);
    else if (this.isEmpty() && this.alarmAt !== null) {
      // Nothing owed: the lease's alarm would only wake the object for nothing.
      this.alarmAt = null;
      await this.ctx.storage.deleteAlarm();
    }
  }

  /** Queues the jobs that are due (retries, and jobs whose lease ran out), then arms the next alarm. */
  async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!hasTable(this.ctx.storage.sql, "outbox")) return;
    const now = Date.now();
    const due = this.sql()
      .exec<{ id: string; job: string; sends: number }>(
        "SELECT id, job, sends FROM outbox WHERE due <= ? ORDER BY due LIMIT ?",
        now,
        SENDS_PER_ALARM,
      )
      .toArray();
    for (const { id, sends } of due) {
      this.sql().exec("UPDATE outbox SET due = ?, sends = ? WHERE id = ?", now + leaseAfter(sends), sends + 1, id);
    }
    const next = this.sql().exec<{ due: number | null }>("SELECT MIN(due) AS due FROM outbox").one().due;
    if (next !== null) await this.armAt(next);
    await this.send(due.map(({ id, job }) => ({ id, job: JSON.parse(job) as NotificationJob })));
  }

  private async send(jobs: readonly { id: string; job: NotificationJob }[]): Promise<void> {
    if (jobs.length === 0) return;
    const object = this.ctx.id.toString();
    try {
      await enqueueJobs(
        this.env.NOTIFICATIONS,
        jobs.map(({ id, job }) => ({ ...job, outbox: { object, id } })),
      );
    } catch (error) {
      // Kept: the alarm queues them when their lease runs out.
      logError(this.source, "outbox send", error, { jobs: jobs.length });
    }
  }

  /** Sets the alarm at `at` unless it is set earlier already. */
  private async armAt(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  private sql(): SqlStorage {
    return this.ctx.storage.sql;
  }
}

/** The lease of a job sent `sends` times without word from the consumer. */
const leaseAfter = (sends: number) => Math.min(MAX_LEASE_MS, OUTBOX_LEASE_MS * 2 ** sends);
