import { readConfig } from "../config";
import { graphDateTimeOffset, type SubscriptionRecord } from "../domain/subscriptions";
import type { Env } from "../env";
import { appObjectName } from "../objects/names";
import type { Settlement } from "../objects/notification-outbox";
import { recordDelivery } from "../observability/metrics";
import { logError } from "../shared/log";
import { parseEncryptionCertificate } from "./certificate";
import { type DeadLetterFor, deadLetters, keepDeadLetters } from "./dead-letters";
import { encryptResourceData } from "./encrypt-resource-data";
import { type ChangeJob, currentJob, enqueueJobs, type NotificationJob, type SubscriberItem } from "./jobs";
import { postToReceiver, type ReceiverAnswer } from "./outbound";
import { signValidationToken } from "./validation-tokens";

/** Spec 5.5: a 2xx within 3 s is a delivery (DELIVERY_TIMEOUT_MS); retries are given 10 s. */
const RETRY_TIMEOUT_MS = 10_000;
/** After 4 hours of failed tries a notification is given up (spec 5.5) and kept as a dead letter (D31). */
export const GIVE_UP_AFTER_MS = 4 * 60 * 60_000;

/** Retries: first within about 5 s, doubling, at most 10 minutes apart (spec 5.5). */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(600, 5 * 2 ** Math.max(0, attempts - 1));
}

type Item = Record<string, unknown>;

/** One notification a job asks for: a change for one subscription, or a lifecycle event. */
export interface Entry {
  message: Message<NotificationJob>;
  subscriptionId: string;
  registry: string;
  /** The subscriber of a change; undefined for a lifecycle event. */
  subscriber?: SubscriberItem;
}

/** Tries so far of a message, counting those before it was re-sent for the subscriptions that failed. */
const attemptsOf = (message: Message<NotificationJob>) => (message.body.priorAttempts ?? 0) + message.attempts;

function entriesOf(message: Message<NotificationJob>): Entry[] {
  const job = currentJob(message.body);
  if (job.kind === "lifecycle") {
    return [{ message, subscriptionId: job.subscriptionId, registry: appObjectName(job.tenantId, job.appId) }];
  }
  return job.items.map((subscriber) => ({
    message,
    subscriptionId: subscriber.subscriptionId,
    registry: appObjectName(job.tenantId, subscriber.appId),
    subscriber,
  }));
}

/** The payload item of spec 5.4 for one change, encrypted when the subscription asks for resource data. */
async function changeItem(job: ChangeJob, subscriber: SubscriberItem, s: SubscriptionRecord): Promise<Item> {
  const resourceData = {
    "@odata.id": `users/${job.userId}/presence`,
    "@odata.type": "#microsoft.graph.presence",
    id: job.userId,
  };
  const item: Item = {
    subscriptionId: s.id,
    clientState: s.clientState,
    changeType: "updated",
    tenantId: s.tenantId,
    resource: `communications/presences/${job.userId}`,
    subscriptionExpirationDateTime: graphDateTimeOffset(s.expiresAt),
    resourceData,
    organizationId: s.tenantId,
  };
  const view = job.views[subscriber.audience];
  if (s.includeResourceData && s.encryptionCertificate && s.encryptionCertificateId && view) {
    // D18: rich notifications carry the full presence as the subscriber may see it.
    item.encryptedContent = await encryptResourceData(
      { ...resourceData, id: job.userId, ...view },
      await parseEncryptionCertificate(s.encryptionCertificate),
      s.encryptionCertificateId,
    );
  }
  return item;
}

function lifecycleItem(s: SubscriptionRecord): Item {
  return {
    subscriptionId: s.id,
    subscriptionExpirationDateTime: graphDateTimeOffset(s.expiresAt),
    tenantId: s.tenantId,
    clientState: s.clientState,
    lifecycleEvent: "reauthorizationRequired",
  };
}

interface Pending {
  entries: Entry[];
  items: Item[];
  /** (app, tenant) pairs whose rich items need a validation token. */
  tokenFor: Map<string, { appId: string; tenantId: string }>;
}

/**
 * The queue consumer: turns jobs into Graph notification POSTs, one per target URL (several
 * notifications may share one POST, as in Graph). A 2xx in time acknowledges them; anything
 * else retries them with exponential backoff until four hours have passed, then they go to the
 * dead-letter store (D31), as do notifications whose subscription ended while they were retried.
 * A job covers several subscriptions; when only some of their URLs fail, only those are tried
 * again, so a delivered one is not repeated. A job kept in a relay's outbox is settled there (the
 * relay queues its retry); other jobs are retried by the queue.
 */
export async function deliverNotifications(batch: MessageBatch<NotificationJob>, env: Env): Promise<void> {
  const now = Date.now();
  const entries = batch.messages.flatMap(entriesOf);
  const subscriptions = await lookUpSubscriptions(entries, env);
  const byUrl = new Map<string, Pending>();
  // Entries whose subscription ended after a failed try: nobody will take them now (D31).
  const ended = new Map<Message<NotificationJob>, Entry[]>();
  for (const entry of entries) {
    const job = currentJob(entry.message.body);
    const s = subscriptions.get(entry.subscriptionId);
    const url = job.kind === "change" ? s?.notificationUrl : s?.lifecycleNotificationUrl;
    // Deleted or expired meanwhile: nothing more is sent for it (D16).
    if (!s || !url || s.expiresAt <= now) {
      if (attemptsOf(entry.message) > 1) ended.set(entry.message, [...(ended.get(entry.message) ?? []), entry]);
      continue;
    }
    let pending = byUrl.get(url);
    if (!pending) {
      pending = { entries: [], items: [], tokenFor: new Map() };
      byUrl.set(url, pending);
    }
    pending.entries.push(entry);
    pending.items.push(
      job.kind === "change" && entry.subscriber ? await changeItem(job, entry.subscriber, s) : lifecycleItem(s),
    );
    if (job.kind === "change" && s.includeResourceData) {
      pending.tokenFor.set(`${s.applicationId}:${s.tenantId}`, { appId: s.applicationId, tenantId: s.tenantId });
    }
  }
  // What failed, by message: its entries whose URL did not take the POST, and the last status.
  const failed = new Map<Message<NotificationJob>, { entries: Entry[]; status: string }>();
  await Promise.all(
    [...byUrl].map(async ([url, pending]) => {
      const status = await post(url, pending, env);
      if (status === null) return;
      for (const entry of pending.entries) {
        const known = failed.get(entry.message);
        if (known) {
          known.entries.push(entry);
          known.status = status;
        } else failed.set(entry.message, { entries: [entry], status });
      }
    }),
  );
  const outcomes = batch.messages.map((message) => outcomeOf(message, failed.get(message), ended.get(message), now));
  const unkept = await keepDeadLetters(
    outcomes.flatMap((o) => o.letters),
    env,
  );
  await settle(
    outcomes.map((o) =>
      // A letter the store could not take: the whole message is tried again, to be given up again.
      o.letters.some((l) => unkept.has(l)) ? { ...o, again: againWhole(o.message), part: false } : o,
    ),
    env,
  );
}

/** What becomes of one message after its POSTs: letters to keep, and what to try again, if anything. */
interface Outcome {
  message: Message<NotificationJob>;
  letters: DeadLetterFor[];
  /** The job to try again (the whole job, or only the subscriptions that failed), and when. */
  again?: NotificationJob;
  part: boolean;
  delaySeconds: number;
}

function outcomeOf(
  message: Message<NotificationJob>,
  failure: { entries: Entry[]; status: string } | undefined,
  ended: Entry[] | undefined,
  now: number,
): Outcome {
  const job = currentJob(message.body);
  const attempts = attemptsOf(message);
  const delaySeconds = retryDelaySeconds(attempts);
  const letters = ended ? deadLetters(job, ended, "subscription ended before delivery", job.lastStatus, attempts) : [];
  if (!failure) return { message, letters, part: false, delaySeconds };
  const { entries: failedEntries, status: lastStatus } = failure;
  if (now - job.firstAttemptAt >= GIVE_UP_AFTER_MS) {
    letters.push(...deadLetters(job, failedEntries, "undelivered for 4 hours", lastStatus, attempts));
    return { message, letters, part: false, delaySeconds };
  }
  if (job.kind === "lifecycle" || (failedEntries.length === job.items.length && !ended)) {
    return { message, letters, again: { ...job, priorAttempts: attempts, lastStatus }, part: false, delaySeconds };
  }
  // Only the subscriptions that failed are tried again; the others have their notification.
  const again: ChangeJob = {
    ...job,
    items: failedEntries.flatMap((e) => (e.subscriber ? [e.subscriber] : [])),
    priorAttempts: attempts,
    lastStatus,
  };
  return { message, letters, again, part: true, delaySeconds };
}

const againWhole = (message: Message<NotificationJob>): NotificationJob => ({
  ...currentJob(message.body),
  priorAttempts: attemptsOf(message),
});

/**
 * Acknowledges each message, after telling its relay's outbox what became of its job (the relay
 * queues the retry), or, for a job no outbox keeps, retries it on the queue (the whole job) or
 * queues its failed part anew.
 */
async function settle(outcomes: readonly Outcome[], env: Env): Promise<void> {
  const byOutbox = new Map<string, { outcomes: Outcome[]; settlements: Settlement[] }>();
  for (const o of outcomes) {
    const ref = o.message.body.outbox;
    if (!ref) continue;
    let owed = byOutbox.get(ref.object);
    if (!owed) {
      owed = { outcomes: [], settlements: [] };
      byOutbox.set(ref.object, owed);
    }
    owed.outcomes.push(o);
    owed.settlements.push(o.again ? { id: ref.id, again: o.again, delaySeconds: o.delaySeconds } : { id: ref.id });
  }
  await Promise.all([
    ...[...byOutbox].map(async ([object, owed]) => {
      try {
        await env.FANOUT_RELAY.get(env.FANOUT_RELAY.idFromString(object)).settleJobs(owed.settlements);
      } catch (error) {
        // Acknowledged all the same: the relay queues what it was not told about when its lease runs out.
        logError({ object: "queue consumer" }, "outbox settle", error, { jobs: owed.settlements.length });
      }
      for (const o of owed.outcomes) o.message.ack();
    }),
    ...outcomes.filter((o) => !o.message.body.outbox).map((o) => settleOnQueue(o, env)),
  ]);
}

async function settleOnQueue({ message, again, part, delaySeconds }: Outcome, env: Env): Promise<void> {
  if (!again) {
    message.ack();
    return;
  }
  if (!part) {
    message.retry({ delaySeconds });
    return;
  }
  try {
    await enqueueJobs(env.NOTIFICATIONS, [again], delaySeconds);
    message.ack();
  } catch (error) {
    // The whole job is retried then: its delivered part may arrive twice, never not at all.
    logError({ object: "queue consumer" }, "re-send of failed part", error);
    message.retry({ delaySeconds });
  }
}

async function lookUpSubscriptions(entries: readonly Entry[], env: Env) {
  const idsByRegistry = new Map<string, Set<string>>();
  for (const { registry, subscriptionId } of entries) {
    let ids = idsByRegistry.get(registry);
    if (!ids) {
      ids = new Set();
      idsByRegistry.set(registry, ids);
    }
    ids.add(subscriptionId);
  }
  const found = new Map<string, SubscriptionRecord>();
  await Promise.all(
    [...idsByRegistry].map(async ([name, ids]) => {
      for (const s of await env.SUBSCRIPTION_REGISTRY.getByName(name).getMany([...ids])) found.set(s.id, s);
    }),
  );
  return found;
}

/** POSTs one payload; null when delivered, else what went wrong (for the log line of a drop). */
async function post(url: string, pending: Pending, env: Env): Promise<string | null> {
  const firstTry = pending.entries.every((e) => attemptsOf(e.message) <= 1);
  const config = readConfig(env);
  const timeout = firstTry ? config.firstDeliveryTimeoutMs : RETRY_TIMEOUT_MS;
  const body: Record<string, unknown> = { value: pending.items };
  if (pending.tokenFor.size > 0) {
    const key = config.signingKey;
    const issuer = config.validationTokenIssuer;
    // Graph sends null when it could not make tokens; so do we without a signing key.
    body.validationTokens = key
      ? await Promise.all(
          [...pending.tokenFor.values()].map((t) => signValidationToken(key, issuer, t.appId, t.tenantId)),
        )
      : null;
  }
  // D25: a redirect is not followed; its 3xx is a failure, retried like any other.
  const started = Date.now();
  const answer = await postToReceiver(url, {
    contentType: "application/json",
    body: JSON.stringify(body),
    timeoutMs: timeout,
  });
  recordDeliveries(env, url, pending.entries, answer, Date.now() - started);
  if (answer.kind === "answered") {
    return answer.status >= 200 && answer.status < 300 ? null : String(answer.status);
  }
  return answer.kind === "timeout" ? `no answer within ${timeout} ms` : "unreachable";
}

/** D31: one delivery metric per (tenant, app) whose notifications the POST carried. */
function recordDeliveries(env: Env, url: string, entries: readonly Entry[], answer: ReceiverAnswer, latencyMs: number) {
  const groups = new Map<
    string,
    { tenant: string; app: string; kind: NotificationJob["kind"]; attempt: number; notifications: number }
  >();
  for (const entry of entries) {
    const job = currentJob(entry.message.body);
    const app = entry.subscriber?.appId ?? (job.kind === "lifecycle" ? job.appId : "");
    const key = `${job.tenantId}:${app}:${job.kind}`;
    const group = groups.get(key) ?? { tenant: job.tenantId, app, kind: job.kind, attempt: 0, notifications: 0 };
    group.attempt = Math.max(group.attempt, attemptsOf(entry.message));
    group.notifications++;
    groups.set(key, group);
  }
  for (const { tenant, app, kind, attempt, notifications } of groups.values()) {
    recordDelivery(env, { tenant, app }, { kind, url, answer, latencyMs, attempt, notifications });
  }
}
