import type { Context } from "hono";
import { InvalidInput } from "../domain/errors";
import { CreateSubscriptionBody, UpdateSubscriptionBody } from "../domain/schemas";
import { type SubscriptionRecord, subscriptionView } from "../domain/subscription-model";
import {
  CERTIFICATE_ID_MAX_LENGTH,
  CLIENT_STATE_MAX_LENGTH,
  canonicalResource,
  checkNotificationUrl,
  httpHostsFrom,
  MAX_SUBSCRIPTIONS_PER_APP_DEFAULT,
  parseExpiration,
  parseSubscriptionResource,
  subscriptionQuotaMessage,
} from "../domain/subscriptions";
import type { Caller } from "../http/auth";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import { positiveInteger } from "../http/config";
import type { AppEnv } from "../http/context";
import { badRequest, forbidden, GraphError, notFound } from "../http/errors";
import { serviceRoot } from "../http/service-root";
import { parseEncryptionCertificate } from "../notifications/certificate";
import { VALIDATION_TIMEOUT_MS_DEFAULT, validateEndpoint } from "../notifications/handshake";

type Ctx = Context<AppEnv>;

const TLS_VERSIONS = ["v1_0", "v1_1", "v1_2", "v1_3"];

/**
 * Delegated Presence.Read.All as in Graph, and (D17, beyond Graph) the
 * application permission Presence.Read.All (or Presence.ReadWrite.All).
 */
function assertCanSubscribe(caller: Caller): void {
  const allowed =
    caller.kind === "delegated"
      ? caller.scopes.has("Presence.Read.All")
      : caller.roles.has("Presence.Read.All") || caller.roles.has("Presence.ReadWrite.All");
  if (!allowed) {
    throw forbidden(
      caller.kind === "delegated"
        ? "Presence subscriptions need the delegated permission Presence.Read.All."
        : "Presence subscriptions need the application permission Presence.Read.All.",
    );
  }
}

/** A caller reaches only its own application's registry, in its own tenant. */
function registryOf(c: Ctx, caller: Caller) {
  return c.env.SUBSCRIPTION_REGISTRY.getByName(`${caller.tenantId}:${caller.appId}`);
}

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
  const problem = await validateEndpoint(url, Number(c.env.VALIDATION_TIMEOUT_MS ?? VALIDATION_TIMEOUT_MS_DEFAULT));
  if (problem) throw new GraphError(400, "InvalidRequest", problem);
}

async function encryptionFields(certificate: string | null | undefined, certificateId: string | null | undefined) {
  if (!certificate)
    throw new InvalidInput("includeResourceData needs encryptionCertificate (base64 X.509, RSA 2048-4096).");
  if (!certificateId) throw new InvalidInput("includeResourceData needs encryptionCertificateId.");
  if (certificateId.length > CERTIFICATE_ID_MAX_LENGTH) {
    throw new InvalidInput(`encryptionCertificateId may be at most ${CERTIFICATE_ID_MAX_LENGTH} characters.`);
  }
  await parseEncryptionCertificate(certificate);
  return { encryptionCertificate: certificate, encryptionCertificateId: certificateId };
}

const resource = (c: Ctx, record: SubscriptionRecord) => ({
  "@odata.context": `${serviceRoot(c)}/$metadata#subscriptions/$entity`,
  ...subscriptionView(record),
});

/** `POST /subscriptions` (spec 5.3). */
export async function createSubscription(c: Ctx) {
  const caller = await requireCaller(c);
  assertCanSubscribe(caller);
  const body = await readJsonBody(c.req.raw, CreateSubscriptionBody);
  if (body.changeType !== "updated") {
    throw badRequest(`changeType '${body.changeType}' is not supported for presence: use 'updated'.`);
  }
  const userIds = parseSubscriptionResource(body.resource);
  const expiresAt = parseExpiration(body.expirationDateTime, Date.now());
  if (body.clientState && body.clientState.length > CLIENT_STATE_MAX_LENGTH) {
    throw badRequest(`clientState may be at most ${CLIENT_STATE_MAX_LENGTH} characters.`);
  }
  const httpHosts = httpHostsFrom(c.env.NOTIFICATION_HTTP_HOSTS);
  const notificationUrl = checkNotificationUrl("notificationUrl", body.notificationUrl, httpHosts);
  const lifecycleNotificationUrl = body.lifecycleNotificationUrl
    ? checkNotificationUrl("lifecycleNotificationUrl", body.lifecycleNotificationUrl, httpHosts)
    : null;
  const tls = body.latestSupportedTlsVersion ?? "v1_2";
  if (!TLS_VERSIONS.includes(tls))
    throw badRequest(`latestSupportedTlsVersion must be one of ${TLS_VERSIONS.join(", ")}.`);
  const encryption = body.includeResourceData
    ? await encryptionFields(body.encryptionCertificate, body.encryptionCertificateId)
    : { encryptionCertificate: null, encryptionCertificateId: null };

  // D26: an application over its quota causes no handshake; the registry checks again as it stores.
  const maxActive = positiveInteger(c.env.SUBSCRIPTIONS_PER_APP, MAX_SUBSCRIPTIONS_PER_APP_DEFAULT);
  if ((await registryOf(c, caller).activeCount()) >= maxActive) throw forbidden(subscriptionQuotaMessage(maxActive));

  // Spec 5.3: both endpoints must echo the token before anything is stored.
  await handshake(c, notificationUrl);
  if (lifecycleNotificationUrl) await handshake(c, lifecycleNotificationUrl);

  const record: SubscriptionRecord = {
    id: crypto.randomUUID(),
    tenantId: caller.tenantId,
    applicationId: caller.appId,
    creatorId: caller.kind === "delegated" ? caller.userId : caller.appId,
    ownerUserId: caller.kind === "delegated" ? caller.userId : null,
    resource: body.resource,
    canonicalResource: canonicalResource(userIds),
    userIds,
    changeType: "updated",
    notificationUrl,
    lifecycleNotificationUrl,
    clientState: body.clientState ?? null,
    expiresAt,
    includeResourceData: body.includeResourceData ?? false,
    ...encryption,
    latestSupportedTlsVersion: tls,
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
  const body = await readJsonBody(c.req.raw, UpdateSubscriptionBody);
  const next: SubscriptionRecord = { ...current };
  if (body.expirationDateTime !== undefined) next.expiresAt = parseExpiration(body.expirationDateTime, Date.now());
  if (body.encryptionCertificate !== undefined || body.encryptionCertificateId !== undefined) {
    Object.assign(
      next,
      await encryptionFields(
        body.encryptionCertificate ?? current.encryptionCertificate,
        body.encryptionCertificateId ?? current.encryptionCertificateId,
      ),
    );
  }
  if (body.notificationUrl !== undefined) {
    next.notificationUrl = checkNotificationUrl(
      "notificationUrl",
      body.notificationUrl,
      httpHostsFrom(c.env.NOTIFICATION_HTTP_HOSTS),
    );
    if (next.notificationUrl !== current.notificationUrl) await handshake(c, next.notificationUrl);
  }
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
