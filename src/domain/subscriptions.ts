import { Temporal } from "temporal-polyfill";
import { InvalidInput } from "./errors";
import { isGuid } from "./ids";
import type { Audience } from "./model";
import { checkNotificationUrl } from "./notification-urls";

/** Spec 5.1: one subscription covers at most 650 distinct users. */
export const MAX_USERS_PER_SUBSCRIPTION = 650;
/** D16: a presence subscription lives at most 60 minutes. */
export const MAX_SUBSCRIPTION_LIFETIME_MS = 60 * 60_000;
export const CLIENT_STATE_MAX_LENGTH = 128;
export const CERTIFICATE_ID_MAX_LENGTH = 128;

/** Graph answers a quota with 403 and a message naming the limit that was reached. */
export const subscriptionQuotaMessage = (limit: number) =>
  `Maximum number of subscriptions has been reached: an application may have at most ${limit} active subscriptions in a tenant.`;
/** When the reauthorizationRequired lifecycle notification goes out: this long before expiry. */
export const LIFECYCLE_NOTICE_MS = 5 * 60_000;

const SINGLE = /^\/?communications\/presences\/([^/?]+)$/i;
const FILTER = /^\/?communications\/presences\?\$filter=\s*id\s+in\s*\((.*)\)\s*$/i;

/**
 * The users a presence subscription's `resource` names (spec 5.1): either
 * `/communications/presences/{id}` or
 * `/communications/presences?$filter=id in ('a','b',...)` with quoted ids.
 */
export function parseSubscriptionResource(resource: string): string[] {
  let text = resource.trim();
  try {
    // Some clients send the filter URL-encoded.
    if (text.includes("%")) text = decodeURIComponent(text);
  } catch {
    throw new InvalidInput(`resource '${resource}' is not a valid URL path.`);
  }
  const single = SINGLE.exec(text);
  if (single?.[1]) {
    if (!isGuid(single[1])) throw new InvalidInput(`'${single[1]}' in resource is not a valid user id (a GUID).`);
    return [single[1].toLowerCase()];
  }
  const filter = FILTER.exec(text);
  if (!filter) {
    throw new InvalidInput(
      "resource must be /communications/presences/{id} or /communications/presences?$filter=id in ('{id}','{id}',...).",
    );
  }
  const items = (filter[1] ?? "").split(",").map((item) => item.trim());
  const ids: string[] = [];
  for (const item of items) {
    const quoted = /^'([^']*)'$/.exec(item);
    if (!quoted)
      throw new InvalidInput(`Invalid filter clause: ids must be quoted, as in id in ('${item || "{id}"}').`);
    const id = quoted[1] ?? "";
    if (!isGuid(id)) throw new InvalidInput(`'${id}' in resource is not a valid user id (a GUID).`);
    ids.push(id.toLowerCase());
  }
  const distinct = [...new Set(ids)];
  if (distinct.length < 1 || distinct.length > MAX_USERS_PER_SUBSCRIPTION) {
    throw new InvalidInput(
      `A presence subscription covers 1 to ${MAX_USERS_PER_SUBSCRIPTION} users; this one names ${distinct.length}.`,
    );
  }
  return distinct;
}

/** The resource in one canonical spelling, so duplicates are found however they were written (D17). */
export function canonicalResource(userIds: readonly string[]): string {
  return userIds.length === 1
    ? `/communications/presences/${userIds[0]}`
    : `/communications/presences?$filter=id in (${[...userIds]
        .sort()
        .map((id) => `'${id}'`)
        .join(",")})`;
}

/** D16: a future instant at most 60 minutes away. */
export function parseExpiration(text: string, now: number): number {
  let at: number;
  try {
    at = Temporal.Instant.from(text.trim()).epochMilliseconds;
  } catch {
    throw new InvalidInput(
      `expirationDateTime '${text}' is not a date and time with an offset, like 2030-01-01T10:00:00Z.`,
    );
  }
  if (at <= now) throw new InvalidInput("expirationDateTime must be in the future.");
  if (at > now + MAX_SUBSCRIPTION_LIFETIME_MS) {
    throw new InvalidInput("expirationDateTime may be at most 60 minutes from now for presence subscriptions.");
  }
  return at;
}

/** A presence change-notification subscription as stored (spec 5.2). */
export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  applicationId: string;
  /** The delegated user who created it, or the application. */
  creatorId: string;
  /** Set for a delegated creator: that user sees their own presence as its owner (D9). */
  ownerUserId: string | null;
  resource: string;
  canonicalResource: string;
  userIds: string[];
  changeType: "updated";
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  clientState: string | null;
  expiresAt: number;
  includeResourceData: boolean;
  encryptionCertificate: string | null;
  encryptionCertificateId: string | null;
  latestSupportedTlsVersion: string;
}

/** Graph's DateTimeOffset with seven fractional digits. */
export function graphDateTimeOffset(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 23)}0000Z`;
}

/** The subscription resource as Graph returns it. */
export function subscriptionView(s: SubscriptionRecord) {
  return {
    id: s.id,
    resource: s.resource,
    applicationId: s.applicationId,
    changeType: s.changeType,
    clientState: s.clientState,
    notificationUrl: s.notificationUrl,
    notificationQueryOptions: null,
    lifecycleNotificationUrl: s.lifecycleNotificationUrl,
    expirationDateTime: graphDateTimeOffset(s.expiresAt),
    creatorId: s.creatorId,
    includeResourceData: s.includeResourceData,
    latestSupportedTlsVersion: s.latestSupportedTlsVersion,
    encryptionCertificate: s.encryptionCertificate,
    encryptionCertificateId: s.encryptionCertificateId,
    notificationUrlAppId: null,
  };
}

export function audienceForSubscription(s: SubscriptionRecord, userId: string): Audience {
  return s.ownerUserId === userId ? "owner" : "other";
}

// --- commands: a validated body, as presence actions have (commands.ts) ---------------------

const TLS_VERSIONS = ["v1_0", "v1_1", "v1_2", "v1_3"];

/** What a POST /subscriptions body says, once checked (spec 5.1-5.3, D16, D25). */
export interface CreateSubscriptionCommand {
  resource: string;
  userIds: string[];
  canonicalResource: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  clientState: string | null;
  expiresAt: number;
  includeResourceData: boolean;
  /** The certificate of rich notifications, still to be parsed (it is X.509: notifications/certificate.ts). */
  encryption: { encryptionCertificate: string; encryptionCertificateId: string } | null;
  latestSupportedTlsVersion: string;
}

export interface CreateSubscriptionInput {
  changeType: string;
  notificationUrl: string;
  resource: string;
  expirationDateTime: string;
  clientState?: string | null;
  lifecycleNotificationUrl?: string | null;
  includeResourceData?: boolean | null;
  encryptionCertificate?: string | null;
  encryptionCertificateId?: string | null;
  latestSupportedTlsVersion?: string | null;
}

export function toCreateSubscriptionCommand(
  body: CreateSubscriptionInput,
  now: number,
  trustedHosts: ReadonlySet<string>,
): CreateSubscriptionCommand {
  if (body.changeType !== "updated") {
    throw new InvalidInput(`changeType '${body.changeType}' is not supported for presence: use 'updated'.`);
  }
  const userIds = parseSubscriptionResource(body.resource);
  const expiresAt = parseExpiration(body.expirationDateTime, now);
  if (body.clientState && body.clientState.length > CLIENT_STATE_MAX_LENGTH) {
    throw new InvalidInput(`clientState may be at most ${CLIENT_STATE_MAX_LENGTH} characters.`);
  }
  const notificationUrl = checkNotificationUrl("notificationUrl", body.notificationUrl, trustedHosts);
  const lifecycleNotificationUrl = body.lifecycleNotificationUrl
    ? checkNotificationUrl("lifecycleNotificationUrl", body.lifecycleNotificationUrl, trustedHosts)
    : null;
  const tls = body.latestSupportedTlsVersion ?? "v1_2";
  if (!TLS_VERSIONS.includes(tls)) {
    throw new InvalidInput(`latestSupportedTlsVersion must be one of ${TLS_VERSIONS.join(", ")}.`);
  }
  return {
    resource: body.resource,
    userIds,
    canonicalResource: canonicalResource(userIds),
    notificationUrl,
    lifecycleNotificationUrl,
    clientState: body.clientState ?? null,
    expiresAt,
    includeResourceData: body.includeResourceData ?? false,
    encryption: body.includeResourceData
      ? encryptionFields(body.encryptionCertificate, body.encryptionCertificateId)
      : null,
    latestSupportedTlsVersion: tls,
  };
}

export interface UpdateSubscriptionInput {
  expirationDateTime?: string;
  notificationUrl?: string;
  encryptionCertificate?: string;
  encryptionCertificateId?: string;
}

/**
 * PATCH /subscriptions/{id} (spec 5.6): the subscription as it will be, and what must be
 * checked before it is stored (a new URL's handshake, a new certificate's parse).
 */
export function toUpdateSubscriptionCommand(
  body: UpdateSubscriptionInput,
  current: SubscriptionRecord,
  now: number,
  trustedHosts: ReadonlySet<string>,
): { next: SubscriptionRecord; newNotificationUrl: string | null; newCertificate: string | null } {
  const next: SubscriptionRecord = { ...current };
  if (body.expirationDateTime !== undefined) next.expiresAt = parseExpiration(body.expirationDateTime, now);
  let newCertificate: string | null = null;
  if (body.encryptionCertificate !== undefined || body.encryptionCertificateId !== undefined) {
    Object.assign(
      next,
      encryptionFields(
        body.encryptionCertificate ?? current.encryptionCertificate,
        body.encryptionCertificateId ?? current.encryptionCertificateId,
      ),
    );
    newCertificate = next.encryptionCertificate;
  }
  let newNotificationUrl: string | null = null;
  if (body.notificationUrl !== undefined) {
    next.notificationUrl = checkNotificationUrl("notificationUrl", body.notificationUrl, trustedHosts);
    if (next.notificationUrl !== current.notificationUrl) newNotificationUrl = next.notificationUrl;
  }
  return { next, newNotificationUrl, newCertificate };
}

function encryptionFields(certificate: string | null | undefined, certificateId: string | null | undefined) {
  if (!certificate) {
    throw new InvalidInput("includeResourceData needs encryptionCertificate (base64 X.509, RSA 2048-4096).");
  }
  if (!certificateId) throw new InvalidInput("includeResourceData needs encryptionCertificateId.");
  if (certificateId.length > CERTIFICATE_ID_MAX_LENGTH) {
    throw new InvalidInput(`encryptionCertificateId may be at most ${CERTIFICATE_ID_MAX_LENGTH} characters.`);
  }
  return { encryptionCertificate: certificate, encryptionCertificateId: certificateId };
}
