import type { Audience } from "./model";

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
