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

// Graph's mailboxSettings resource type and the complex types it uses, for the
// properties this service stores without interpreting them: checked for shape
// only, so that a document read from Graph can be written back here.
const LocaleInfo = v.strictObject({
  locale: v.nullish(v.string()),
  displayName: v.nullish(v.string()),
});

const StandardTimeZoneOffsetShape = {
  time: v.nullish(v.string()),
  dayOccurrence: v.nullish(v.number()),
  dayOfWeek: v.nullish(v.string()),
  month: v.nullish(v.number()),
  year: v.nullish(v.number()),
};

/** timeZoneBase, or its subtype customTimeZone (marked with `@odata.type`, which is dropped as an annotation). */
const TimeZoneBase = v.strictObject({
  name: v.nullish(v.string()),
  bias: v.nullish(v.number()),
  standardOffset: v.nullish(v.strictObject(StandardTimeZoneOffsetShape)),
  daylightOffset: v.nullish(v.strictObject({ ...StandardTimeZoneOffsetShape, daylightBias: v.nullish(v.number()) })),
});

const WorkingHours = v.strictObject({
  daysOfWeek: v.nullish(v.array(v.string())),
  startTime: v.nullish(v.string()),
  endTime: v.nullish(v.string()),
  timeZone: v.nullish(TimeZoneBase),
});

export const PatchMailboxSettingsBody = v.strictObject({
  archiveFolder: v.nullish(v.string()),
  dateFormat: v.nullish(v.string()),
  timeFormat: v.nullish(v.string()),
  delegateMeetingMessageDeliveryOptions: v.nullish(v.string()),
  userPurpose: v.nullish(v.string()),
  language: v.nullish(LocaleInfo),
  workingHours: v.nullish(WorkingHours),
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
