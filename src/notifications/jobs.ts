/**
 * What goes on the notifications queue: one job per (subscription, change),
 * or one lifecycle event. The payload Graph receivers get is built from it at
 * delivery time, with the subscription as it is then (deleted or expired
 * subscriptions send nothing).
 */
export type NotificationJob =
  | {
      kind: "change";
      tenantId: string;
      appId: string;
      subscriptionId: string;
      userId: string;
      /** The presence as the subscriber may see it, at this change. */
      presence: Record<string, unknown> & { id: string; sequenceNumber: string };
      firstAttemptAt: number;
    }
  | {
      kind: "lifecycle";
      tenantId: string;
      appId: string;
      subscriptionId: string;
      lifecycleEvent: "reauthorizationRequired";
      firstAttemptAt: number;
    };

/** Queues take at most 100 messages per sendBatch. */
export const QUEUE_BATCH_LIMIT = 100;

export async function enqueueJobs(queue: Queue<NotificationJob>, jobs: NotificationJob[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += QUEUE_BATCH_LIMIT) {
    await queue.sendBatch(jobs.slice(i, i + QUEUE_BATCH_LIMIT).map((body) => ({ body, contentType: "json" as const })));
  }
}
