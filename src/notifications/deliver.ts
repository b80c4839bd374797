import { graphDateTimeOffset, type SubscriptionRecord } from "../domain/subscription-model";
import { GIVE_UP_AFTER_MS, retryDelaySeconds } from "../domain/subscriptions";
import type { Env } from "../env";
import { parseEncryptionCertificate } from "./certificate";
import { encryptResourceData } from "./encrypt-resource-data";
import type { NotificationJob } from "./jobs";
import { postToReceiver } from "./outbound";
import { signValidationToken, VALIDATION_TOKEN_ISSUER_DEFAULT } from "./validation-tokens";

/** Spec 5.5: a 2xx within 3 s is a delivery; retries are given 10 s. */
const FIRST_ATTEMPT_TIMEOUT_MS = 3_000;
const RETRY_TIMEOUT_MS = 10_000;

type Item = Record<string, unknown>;

/** The payload item of spec 5.4 for one change, encrypted when the subscription asks for resource data. */
async function changeItem(job: Extract<NotificationJob, { kind: "change" }>, s: SubscriptionRecord): Promise<Item> {
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
  if (s.includeResourceData && s.encryptionCertificate && s.encryptionCertificateId) {
    // D18: rich notifications carry the full presence as the subscriber may see it.
    item.encryptedContent = await encryptResourceData(
      { ...resourceData, ...job.presence },
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
  messages: Message<NotificationJob>[];
  items: Item[];
  /** (app, tenant) pairs whose rich items need a validation token. */
  tokenFor: Map<string, { appId: string; tenantId: string }>;
}

/**
 * The queue consumer: turns jobs into Graph notification POSTs, one per
 * target URL (several notifications may share one POST, as in Graph). A 2xx
 * in time acknowledges them; anything else retries them with exponential
 * backoff until four hours have passed, then drops them with a log line.
 */
export async function deliverNotifications(batch: MessageBatch<NotificationJob>, env: Env): Promise<void> {
  const now = Date.now();
  const subscriptions = await lookUpSubscriptions(batch.messages, env);
  const byUrl = new Map<string, Pending>();
  for (const message of batch.messages) {
    const job = message.body;
    const s = subscriptions.get(job.subscriptionId);
    const url = job.kind === "change" ? s?.notificationUrl : s?.lifecycleNotificationUrl;
    if (!s || !url || s.expiresAt <= now) {
      // Deleted or expired meanwhile: nothing more is sent for it (D16).
      message.ack();
      continue;
    }
    let pending = byUrl.get(url);
    if (!pending) {
      pending = { messages: [], items: [], tokenFor: new Map() };
      byUrl.set(url, pending);
    }
    pending.messages.push(message);
    pending.items.push(job.kind === "change" ? await changeItem(job, s) : lifecycleItem(s));
    if (job.kind === "change" && s.includeResourceData) {
      pending.tokenFor.set(`${s.applicationId}:${s.tenantId}`, { appId: s.applicationId, tenantId: s.tenantId });
    }
  }
  await Promise.all([...byUrl].map(([url, pending]) => post(url, pending, env, now)));
}

async function lookUpSubscriptions(messages: readonly Message<NotificationJob>[], env: Env) {
  const idsByRegistry = new Map<string, Set<string>>();
  for (const { body } of messages) {
    const name = `${body.tenantId}:${body.appId}`;
    let ids = idsByRegistry.get(name);
    if (!ids) {
      ids = new Set();
      idsByRegistry.set(name, ids);
    }
    ids.add(body.subscriptionId);
  }
  const found = new Map<string, SubscriptionRecord>();
  await Promise.all(
    [...idsByRegistry].map(async ([name, ids]) => {
      for (const s of await env.SUBSCRIPTION_REGISTRY.getByName(name).getMany([...ids])) found.set(s.id, s);
    }),
  );
  return found;
}

async function post(url: string, pending: Pending, env: Env, now: number): Promise<void> {
  const firstTry = pending.messages.every((m) => m.attempts <= 1);
  const timeout = firstTry ? Number(env.DELIVERY_TIMEOUT_MS ?? FIRST_ATTEMPT_TIMEOUT_MS) : RETRY_TIMEOUT_MS;
  const body: Record<string, unknown> = { value: pending.items };
  if (pending.tokenFor.size > 0) {
    const key = env.NOTIFICATION_SIGNING_KEY;
    const issuer = env.VALIDATION_TOKEN_ISSUER ?? VALIDATION_TOKEN_ISSUER_DEFAULT;
    // Graph sends null when it could not make tokens; so do we without a signing key.
    body.validationTokens = key
      ? await Promise.all(
          [...pending.tokenFor.values()].map((t) => signValidationToken(key, issuer, t.appId, t.tenantId)),
        )
      : null;
  }
  // D25: a redirect is not followed; its 3xx is a failure, retried like any other.
  const answer = await postToReceiver(url, {
    contentType: "application/json",
    body: JSON.stringify(body),
    timeoutMs: timeout,
  });
  const delivered = answer.kind === "answered" && answer.status >= 200 && answer.status < 300;
  const status =
    answer.kind === "answered"
      ? String(answer.status)
      : answer.kind === "timeout"
        ? `no answer within ${timeout} ms`
        : "unreachable";
  for (const message of pending.messages) {
    if (delivered) {
      message.ack();
    } else if (now - message.body.firstAttemptAt >= GIVE_UP_AFTER_MS) {
      console.error(
        JSON.stringify({
          level: "error",
          event: "notification dropped",
          reason: "undelivered for 4 hours",
          subscriptionId: message.body.subscriptionId,
          lastStatus: status,
        }),
      );
      message.ack();
    } else {
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
}
