import type { Context } from "hono";
import { readConfig } from "../config";
import type { Caller } from "../domain/caller";
import { CreateSubscriptionBody, UpdateSubscriptionBody } from "../domain/schemas";
import {
  type SubscriptionRecord,
  subscriptionQuotaMessage,
  subscriptionView,
  toCreateSubscriptionCommand,
  toUpdateSubscriptionCommand,
} from "../domain/subscriptions";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { forbidden, GraphError, notFound } from "../http/errors";
import { assertCanSubscribe } from "../http/permissions";
import { serviceRoot } from "../http/service-root";
import { parseEncryptionCertificate } from "../notifications/certificate";
import { validateEndpoint } from "../notifications/handshake";
import { subscriptionRegistryStub } from "../objects/names";

type Ctx = Context<AppEnv>;

/** A caller reaches only its own application's registry, in its own tenant. */
const registryOf = (c: Ctx, caller: Caller) => subscriptionRegistryStub(c.env, caller.tenantId, caller.appId);

/** Delegated callers see the subscriptions they created; an application sees all of its own. */
function visibleTo(caller: Caller, record: SubscriptionRecord): boolean {
  return caller.kind === "application" || record.creatorId === caller.userId;
}

async function ownSubscription(c: Ctx, caller: Caller): Promise<SubscriptionRecord> {
  const id = c.req.param("id") ?? "";
  const record = await registryOf(c, caller).get(id.toLowerCase());
  if (!record || !visibleTo(caller, record)) throw notFound(`No subscription '${id}' exists for this application.`);
  return record;
}

async function handshake(c: Ctx, url: string): Promise<void> {
  const problem = await validateEndpoint(url, readConfig(c.env).validationTimeoutMs);
  if (problem) throw new GraphError(400, "InvalidRequest", problem);
}

const resource = (c: Ctx, record: SubscriptionRecord) => ({
  "@odata.context": `${serviceRoot(c)}/$metadata#subscriptions/$entity`,
  ...subscriptionView(record),
});

/** `POST /subscriptions` (spec 5.3). */
export async function createSubscription(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  const config = readConfig(c.env);
  const command = toCreateSubscriptionCommand(
    await readJsonBody(c.req.raw, CreateSubscriptionBody),
    Date.now(),
    config.notificationHttpHosts,
  );
  if (command.encryption) await parseEncryptionCertificate(command.encryption.encryptionCertificate);

  // D26: an application over its quota causes no handshake; the registry checks again as it stores.
  const maxActive = config.subscriptionsPerApp;
  if ((await registryOf(c, caller).activeCount()) >= maxActive) throw forbidden(subscriptionQuotaMessage(maxActive));

  // Spec 5.3: both endpoints must echo the token before anything is stored.
  await handshake(c, command.notificationUrl);
  if (command.lifecycleNotificationUrl) await handshake(c, command.lifecycleNotificationUrl);

  const { encryption, ...fields } = command;
  const record: SubscriptionRecord = {
    ...fields,
    id: crypto.randomUUID(),
    tenantId: caller.tenantId,
    applicationId: caller.appId,
    creatorId: caller.kind === "delegated" ? caller.userId : caller.appId,
    ownerUserId: caller.kind === "delegated" ? caller.userId : null,
    changeType: "updated",
    encryptionCertificate: encryption?.encryptionCertificate ?? null,
    encryptionCertificateId: encryption?.encryptionCertificateId ?? null,
  };
  const result = await registryOf(c, caller).create(record, maxActive);
  if ("overQuota" in result) throw forbidden(subscriptionQuotaMessage(result.overQuota));
  if ("duplicateOf" in result) {
    throw new GraphError(
      409,
      "Conflict",
      `Subscription Id '${result.duplicateOf}' already exists for the requested combination of notificationUrl and resource.`,
    );
  }
  return c.json(resource(c, result.created), 201);
}

/** `GET /subscriptions`: the caller's own. */
export async function listSubscriptions(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  const records = (await registryOf(c, caller).list()).filter((r) => visibleTo(caller, r));
  return c.json({
    "@odata.context": `${serviceRoot(c)}/$metadata#subscriptions`,
    value: records.map(subscriptionView),
  });
}

export async function getSubscription(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  return c.json(resource(c, await ownSubscription(c, caller)));
}

/** `PATCH /subscriptions/{id}`: renewal, a new notificationUrl or certificate (spec 5.6). */
export async function updateSubscription(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  const current = await ownSubscription(c, caller);
  const { next, newNotificationUrl, newCertificate } = toUpdateSubscriptionCommand(
    await readJsonBody(c.req.raw, UpdateSubscriptionBody),
    current,
    Date.now(),
    readConfig(c.env).notificationHttpHosts,
  );
  if (newCertificate) await parseEncryptionCertificate(newCertificate);
  if (newNotificationUrl) await handshake(c, newNotificationUrl);
  const updated = await registryOf(c, caller).update(next);
  if (!updated) throw notFound(`No subscription '${current.id}' exists for this application.`);
  return c.json(resource(c, updated));
}

export async function deleteSubscription(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  const record = await ownSubscription(c, caller);
  await registryOf(c, caller).remove(record.id);
  return c.body(null, 204);
}

export async function reauthorizeSubscription(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  const record = await ownSubscription(c, caller);
  await registryOf(c, caller).reauthorize(record.id);
  return c.body(null, 204);
}
