import { type ChangeRecord, chunk, SUBSCRIBERS_PER_JOB } from "../domain/fanout";
import type { Audience, PresenceView } from "../domain/model";

/** A subscription a change is to be sent to, as a relay holds it. */
export interface SubscriberItem {
  subscriptionId: string;
  appId: string;
  audience: Audience;
}

/**
 * Where a job is kept until it is delivered or dead-lettered: the id of the Durable Object whose
 * outbox holds it (a user's relay, objects/notification-outbox.ts) and its id there. The consumer
 * reports each such job's outcome to that object; the queue message only wakes the consumer.
 */
export interface OutboxRef {
  object: string;
  id: string;
}

/**
 * What goes on the notifications queue: one change of one user for up to
 * SUBSCRIBERS_PER_JOB of its subscriptions, or one lifecycle event. The payload Graph
 * receivers get is built from it at delivery time, with each subscription as it is then
 * (deleted or expired subscriptions send nothing). `priorAttempts` counts the tries before
 * the queue's own count began (a job re-sent for the subscriptions that failed); `outbox`,
 * where the job is kept (absent for lifecycle jobs and jobs of older versions).
 */
export type NotificationJob =
  | {
      kind: "change";
      tenantId: string;
      userId: string;
      sequenceNumber: string;
      /** The presence as each audience among `items` may see it, at this change. */
      views: Partial<Record<Audience, PresenceView>>;
      items: SubscriberItem[];
      firstAttemptAt: number;
      priorAttempts?: number;
      /** What the receiver answered last time (for the dead-letter store). */
      lastStatus?: string;
      outbox?: OutboxRef;
    }
  | {
      kind: "lifecycle";
      tenantId: string;
      appId: string;
      subscriptionId: string;
      lifecycleEvent: "reauthorizationRequired";
      firstAttemptAt: number;
      priorAttempts?: number;
      lastStatus?: string;
      outbox?: OutboxRef;
    };

export type ChangeJob = Extract<NotificationJob, { kind: "change" }>;

/** A change job as versions before the fan-out tree wrote it: one subscription, one view. */
interface LegacyChangeJob {
  kind: "change";
  tenantId: string;
  appId: string;
  subscriptionId: string;
  userId: string;
  presence: PresenceView & { id: string };
  firstAttemptAt: number;
}

/**
 * A job as the consumer reads it: today's shape, or one written before the fan-out tree (still on
 * the queue, or in an upgraded object's outbox), turned into today's. The old job carried the view
 * of its subscriber's audience without naming it; "other" is the reading that shows no more.
 */
export function currentJob(body: NotificationJob | LegacyChangeJob): NotificationJob {
  if (body.kind !== "change" || "items" in body) return body;
  const { id: _id, ...view } = body.presence;
  return {
    kind: "change",
    tenantId: body.tenantId,
    userId: body.userId,
    sequenceNumber: body.presence.sequenceNumber,
    views: { other: view },
    items: [{ subscriptionId: body.subscriptionId, appId: body.appId, audience: "other" }],
    firstAttemptAt: body.firstAttemptAt,
  };
}

/** The jobs of one change for `subscribers`: a few subscriptions each, with only the views they need. */
export function changeJobs(
  tenantId: string,
  userId: string,
  change: ChangeRecord,
  subscribers: readonly SubscriberItem[],
  now: number,
): ChangeJob[] {
  return chunk(subscribers, SUBSCRIBERS_PER_JOB).map((items) => {
    const views: ChangeJob["views"] = {};
    for (const { audience } of items) views[audience] = change.views[audience];
    return {
      kind: "change",
      tenantId,
      userId,
      sequenceNumber: change.sequenceNumber,
      views,
      items,
      firstAttemptAt: now,
    };
  });
}

/** Queues take at most 100 messages and 256 KB per sendBatch; this stays below both. */
const QUEUE_BATCH_MESSAGES = 100;
const QUEUE_BATCH_BYTES = 200 * 1024;

export async function enqueueJobs(
  queue: Queue<NotificationJob>,
  jobs: readonly NotificationJob[],
  delaySeconds?: number,
): Promise<void> {
  let batch: MessageSendRequest<NotificationJob>[] = [];
  let bytes = 0;
  const send = async () => {
    if (batch.length > 0) await queue.sendBatch(batch, delaySeconds ? { delaySeconds } : undefined);
    batch = [];
    bytes = 0;
  };
  for (const body of jobs) {
    const size = JSON.stringify(body).length;
    if (batch.length === QUEUE_BATCH_MESSAGES || (batch.length > 0 && bytes + size > QUEUE_BATCH_BYTES)) await send();
    batch.push({ body, contentType: "json" });
    bytes += size;
  }
  await send();
}
