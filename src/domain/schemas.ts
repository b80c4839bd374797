import * as v from "valibot";

// Shapes of the action bodies (spec 1.4-1.8). Unknown parameters are rejected
// (strict objects, D11); values are checked further by the command builders.
// `nullish` where Graph SDKs send explicit nulls for unset optional parameters.

export const SetPresenceBody = v.strictObject({
  sessionId: v.string(),
  availability: v.string(),
  activity: v.string(),
  expirationDuration: v.nullish(v.string()),
});

export const ClearPresenceBody = v.strictObject({
  sessionId: v.string(),
});

export const SetPreferredPresenceBody = v.strictObject({
  availability: v.string(),
  activity: v.string(),
  expirationDuration: v.nullish(v.string()),
});

export const EmptyBody = v.strictObject({});

const DateTimeTimeZoneBody = v.strictObject({
  dateTime: v.string(),
  timeZone: v.nullish(v.string()),
});

export const SetStatusMessageBody = v.strictObject({
  statusMessage: v.nullable(
    v.strictObject({
      message: v.nullish(
        v.strictObject({
          content: v.nullish(v.string()),
          contentType: v.nullish(v.string()),
        }),
      ),
      expiryDateTime: v.nullish(DateTimeTimeZoneBody),
      // Read-only and server-set; accepted and ignored, as Graph does.
      publishedDateTime: v.nullish(v.unknown()),
    }),
  ),
});

export const GetPresencesByUserIdBody = v.strictObject({
  ids: v.array(v.string()),
});

export const SetWorkLocationBody = v.strictObject({
  workLocationType: v.string(),
  placeId: v.nullish(v.string()),
});

export const PatchMailboxSettingsBody = v.strictObject({
  timeZone: v.optional(v.string()),
  automaticRepliesSetting: v.optional(
    v.strictObject({
      status: v.optional(v.string()),
      externalAudience: v.optional(v.string()),
      scheduledStartDateTime: v.nullish(DateTimeTimeZoneBody),
      scheduledEndDateTime: v.nullish(DateTimeTimeZoneBody),
      internalReplyMessage: v.nullish(v.string()),
      externalReplyMessage: v.nullish(v.string()),
    }),
  ),
});

export const CreateSubscriptionBody = v.strictObject({
  changeType: v.string(),
  notificationUrl: v.string(),
  resource: v.string(),
  expirationDateTime: v.string(),
  clientState: v.nullish(v.string()),
  lifecycleNotificationUrl: v.nullish(v.string()),
  includeResourceData: v.nullish(v.boolean()),
  encryptionCertificate: v.nullish(v.string()),
  encryptionCertificateId: v.nullish(v.string()),
  latestSupportedTlsVersion: v.nullish(v.string()),
});

/** What a PATCH may change (spec 5.6); lifecycleNotificationUrl cannot be added later. */
export const UpdateSubscriptionBody = v.strictObject({
  expirationDateTime: v.optional(v.string()),
  notificationUrl: v.optional(v.string()),
  encryptionCertificate: v.optional(v.string()),
  encryptionCertificateId: v.optional(v.string()),
});
