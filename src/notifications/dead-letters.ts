import { shardOf } from "../domain/fanout";
import type { Env } from "../env";
import { DEAD_LETTERS_PER_PAGE, type DeadLetter } from "../objects/dead-letter-store";
import { appObjectName, relayObjectName } from "../objects/names";
import { logError } from "../shared/log";
import type { Entry } from "./deliver";
import { currentJob, enqueueJobs, type NotificationJob, type SubscriberItem } from "./jobs";

/** A dead letter and the (tenant, app) whose store keeps it. */
export interface DeadLetterFor {
  tenantId: string;
  appId: string;
  letter: DeadLetter;
}

/** The job as it concerns one subscriber alone: what its dead letter keeps and a replay sends. */
function narrowed(job: NotificationJob, subscriber: SubscriberItem | undefined): NotificationJob {
  const { outbox: _outbox, priorAttempts: _prior, lastStatus: _status, ...rest } = job;
  if (rest.kind === "lifecycle" || !subscriber) return rest;
  const view = rest.views[subscriber.audience];
  return { ...rest, views: view ? { [subscriber.audience]: view } : {}, items: [subscriber] };
}

/** The dead letters of `entries` of one job, one per subscription. */
export function deadLetters(
  job: NotificationJob,
  entries: readonly Pick<Entry, "subscriptionId" | "subscriber">[],
  reason: string,
  lastStatus: string | undefined,
  attempts: number,
): DeadLetterFor[] {
  return entries.map(({ subscriptionId, subscriber }) => ({
    tenantId: job.tenantId,
    appId: job.kind === "lifecycle" ? job.appId : (subscriber?.appId ?? ""),
    letter: { subscriptionId, reason, lastStatus: lastStatus ?? null, attempts, job: narrowed(job, subscriber) },
  }));
}

/**
 * Hands `letters` to their (tenant, app) stores, one call per store, each logged as an error line
 * (`notification dead-lettered`, with the subscription ids, never the payload). Returns those no
 * store took (to be tried again).
 */
export async function keepDeadLetters(letters: readonly DeadLetterFor[], env: Env): Promise<Set<DeadLetterFor>> {
  const byStore = new Map<string, DeadLetterFor[]>();
  for (const l of letters) {
    const name = appObjectName(l.tenantId, l.appId);
    byStore.set(name, [...(byStore.get(name) ?? []), l]);
  }
  const unkept = new Set<DeadLetterFor>();
  await Promise.all(
    [...byStore].map(async ([name, kept]) => {
      const [{ tenantId, appId }] = kept as [DeadLetterFor];
      try {
        await env.DEAD_LETTERS.getByName(name).keep(kept.map((l) => l.letter));
        logError({ object: "queue consumer" }, "notification dead-lettered", undefined, {
          tenantId,
          appId,
          subscriptionIds: kept.map((l) => l.letter.subscriptionId),
          reasons: [...new Set(kept.map((l) => l.letter.reason))],
          lastStatus: kept.at(-1)?.letter.lastStatus,
        });
      } catch (error) {
        logError({ object: "queue consumer" }, "dead letter store", error, { tenantId, appId, letters: kept.length });
        for (const l of kept) unkept.add(l);
      }
    }),
  );
  return unkept;
}

/**
 * The consumer of the dead-letter queue (`dead_letter_queue` in wrangler.toml): messages the
 * notifications queue gave up on after its own max_retries (a consumer that kept failing before
 * it could settle them) are kept in the stores like any other dead letter.
 */
export async function keepQueueDeadLetters(batch: MessageBatch<NotificationJob>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const job = currentJob(message.body);
      const entries =
        job.kind === "lifecycle"
          ? [{ subscriptionId: job.subscriptionId, subscriber: undefined }]
          : job.items.map((subscriber) => ({ subscriptionId: subscriber.subscriptionId, subscriber }));
      const letters = deadLetters(
        job,
        entries,
        "queue retries exhausted",
        job.lastStatus,
        (job.priorAttempts ?? 0) + message.attempts,
      );
      if ((await keepDeadLetters(letters, env)).size > 0) return message.retry({ delaySeconds: 60 });
      // The relay that keeps it need not send it again.
      const ref = message.body.outbox;
      if (ref) {
        await env.FANOUT_RELAY.get(env.FANOUT_RELAY.idFromString(ref.object))
          .settleJobs([{ id: ref.id }])
          .catch((error) => logError({ object: "dead-letter consumer" }, "outbox settle", error));
      }
      message.ack();
    }),
  );
}

/**
 * Sends one subscription's dead letters again (a page at a time: DEAD_LETTERS_PER_PAGE), each as
 * a new job with four fresh hours of retries. A change's letter goes to the outbox of the relay
 * that holds the subscription, so it is kept until delivered or dead-lettered again; a lifecycle
 * notice goes to the queue. The letters are deleted once sent. Answers how many were sent and
 * whether more wait.
 */
export async function replayDeadLetters(
  env: Env,
  tenantId: string,
  appId: string,
  subscriptionId: string,
): Promise<{ replayed: number; more: boolean }> {
  const store = env.DEAD_LETTERS.getByName(appObjectName(tenantId, appId));
  const letters = await store.list(subscriptionId, 0);
  const now = Date.now();
  const byRelay = new Map<string, { id: string; job: NotificationJob }[]>();
  const lifecycle: NotificationJob[] = [];
  for (const { job: kept } of letters) {
    const job = { ...kept, firstAttemptAt: now };
    if (job.kind === "lifecycle") {
      lifecycle.push(job);
      continue;
    }
    const relay = relayObjectName(tenantId, job.userId, shardOf(subscriptionId));
    byRelay.set(relay, [...(byRelay.get(relay) ?? []), { id: `replay:${crypto.randomUUID()}`, job }]);
  }
  await Promise.all([
    ...[...byRelay].map(([name, jobs]) => env.FANOUT_RELAY.getByName(name).adoptJobs(jobs)),
    enqueueJobs(env.NOTIFICATIONS, lifecycle),
  ]);
  await store.remove(letters.map((l) => l.id));
  return { replayed: letters.length, more: letters.length === DEAD_LETTERS_PER_PAGE };
}
