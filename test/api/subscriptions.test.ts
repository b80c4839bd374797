import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { PresenceView } from "../../src/domain/model";
import worker from "../../src/index";
import type { ChangeJob, NotificationJob } from "../../src/notifications/jobs";
import {
  APP,
  appToken,
  call,
  expectGraphError,
  newUserId,
  OTHER_APP,
  relayRegistrations,
  TENANT,
  tablesOf,
  userToken,
} from "../helpers";
import { WebhookReceiver } from "../webhooks";

const MIN = 60_000;
let receiver: WebhookReceiver;

beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const inMinutes = (m: number) => new Date(Date.now() + m * MIN).toISOString();
const subscriber = () => appToken(["Presence.Read.All"]);

function subscription(userIds: string[], extra: Record<string, unknown> = {}) {
  return {
    changeType: "updated",
    notificationUrl: "http://receiver.test/hook?tenant=contoso",
    resource:
      userIds.length === 1
        ? `/communications/presences/${userIds[0]}`
        : `/communications/presences?$filter=id in (${userIds.map((id) => `'${id}'`).join(",")})`,
    expirationDateTime: inMinutes(50),
    clientState: "secret-state",
    ...extra,
  };
}

async function create(token: string, body: Record<string, unknown>) {
  return call(`/v1.0/subscriptions`, { method: "POST", token, body });
}

async function setPresence(user: string, availability = "Busy", activity = "InACall") {
  const response = await call(`/v1.0/users/${user}/presence/setPresence`, {
    token: await appToken(),
    body: { sessionId: APP, availability, activity, expirationDuration: "PT1H" },
  });
  expect(response.status).toBe(200);
}

describe("creating a subscription", () => {
  it("validates the endpoint, stores it and answers 201 with the subscription", async () => {
    const user = newUserId();
    const response = await create(await subscriber(), subscription([user]));
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      "@odata.context": "https://presence.test/v1.0/$metadata#subscriptions/$entity",
      resource: `/communications/presences/${user}`,
      applicationId: APP,
      changeType: "updated",
      clientState: "secret-state",
      notificationUrl: "http://receiver.test/hook?tenant=contoso",
      includeResourceData: false,
      latestSupportedTlsVersion: "v1_2",
    });
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.expirationDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    // The handshake kept the caller's query string and sent a token with spaces.
    expect(receiver.handshakes).toHaveLength(1);
    expect(receiver.handshakes[0]?.searchParams.get("tenant")).toBe("contoso");
    expect(receiver.handshakes[0]?.searchParams.get("validationToken")).toMatch(/^Validation: /);
  });

  it("validates the lifecycle URL too, even when it is the same URL", async () => {
    const url = "http://receiver.test/hook";
    const response = await create(
      await subscriber(),
      subscription([newUserId()], { notificationUrl: url, lifecycleNotificationUrl: url }),
    );
    expect(response.status).toBe(201);
    expect(receiver.handshakes).toHaveLength(2);
  });

  it.each([
    // D25: one neutral message for every failure (test/api/outbound-calls.test.ts checks it is the same).
    ["echo wrong", "wrong-echo", /^Subscription validation request failed\. The notification endpoint must answer/],
    ["too slow", "slow", /^Subscription validation request failed\. The notification endpoint must answer/],
    ["unreachable", "unreachable", /^Subscription validation request failed\. The notification endpoint must answer/],
  ] as const)("fails with 400 when the endpoint's %s, and stores nothing", async (_name, behaviour, message) => {
    receiver.handshake = behaviour;
    const token = await subscriber();
    const user = newUserId();
    await expectGraphError(await create(token, subscription([user])), 400, "InvalidRequest", message);
    const list = (await (await call(`/v1.0/subscriptions`, { token })).json()) as { value: { resource: string }[] };
    expect(list.value.filter((s) => s.resource.includes(user))).toEqual([]);
    const subscribers = await runInDurableObject(env.USER_PRESENCE.getByName(`${TENANT}:${user}`), (_i, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'subscribers'").toArray(),
    );
    expect(subscribers).toEqual([]);
  });

  it.each([
    ["changeType created", { changeType: "created" }, /changeType 'created' is not supported/],
    ["unquoted filter ids", { resource: "/communications/presences?$filter=id in (abc)" }, /ids must be quoted/],
    ["a non-GUID id", { resource: "/communications/presences/bob" }, /not a valid user id/],
    ["another resource", { resource: "/me/messages" }, /resource must be/],
    [
      "651 users",
      {
        resource: `/communications/presences?$filter=id in (${Array.from({ length: 651 }, () => `'${crypto.randomUUID()}'`).join(",")})`,
      },
      /1 to 650 users; this one names 651/,
    ],
    ["an expiry in the past", { expirationDateTime: new Date(Date.now() - MIN).toISOString() }, /in the future/],
    ["an expiry over 60 minutes", { expirationDateTime: inMinutes(61) }, /at most 60 minutes/],
    ["an expiry without offset", { expirationDateTime: "2030-01-01T10:00:00" }, /with an offset/],
    ["a long clientState", { clientState: "x".repeat(129) }, /at most 128/],
    ["plain http elsewhere", { notificationUrl: "http://example.com/hook" }, /must use https/],
    ["not a URL", { notificationUrl: "hook" }, /not an absolute URL/],
    [
      "rich without a certificate",
      { includeResourceData: true, encryptionCertificateId: "c1" },
      /needs encryptionCertificate/,
    ],
    [
      "rich with a bad certificate",
      { includeResourceData: true, encryptionCertificate: "bm90IGEgY2VydA==", encryptionCertificateId: "c1" },
      /not a base64-encoded X.509/,
    ],
    ["an unknown property", { expirationTime: inMinutes(10) }, /Unknown parameter 'expirationTime'/],
    ["a bad TLS version", { latestSupportedTlsVersion: "v2" }, /latestSupportedTlsVersion/],
  ])("refuses %s with 400", async (_name, change, message) => {
    await expectGraphError(
      await create(await subscriber(), subscription([newUserId()], change)),
      400,
      "BadRequest",
      message,
    );
    expect(receiver.handshakes).toEqual([]);
  });

  it("accepts the filter form with 650 users and duplicate ids once", async () => {
    const ids = Array.from({ length: 650 }, () => crypto.randomUUID());
    const response = await create(await subscriber(), subscription([...ids, ids[0] as string]));
    expect(response.status).toBe(201);
  }, 60_000);

  it("refuses a duplicate (notificationUrl, resource) for the same app with 409, and allows it for another app", async () => {
    const user = newUserId();
    const token = await subscriber();
    expect((await create(token, subscription([user]))).status).toBe(201);
    await expectGraphError(await create(token, subscription([user])), 409, "Conflict", /already exists/);
    // D17: several subscriptions per app and user are fine when they differ.
    expect((await create(token, subscription([user], { notificationUrl: "http://receiver.test/other" }))).status).toBe(
      201,
    );
    expect((await create(await appToken(["Presence.Read.All"], { app: OTHER_APP }), subscription([user]))).status).toBe(
      201,
    );
  });

  it("needs Presence.Read.All, delegated or application", async () => {
    const body = subscription([newUserId()]);
    await expectGraphError(
      await create(await userToken(newUserId(), "Presence.Read Presence.ReadWrite"), body),
      403,
      "Forbidden",
    );
    await expectGraphError(await create(await appToken([]), body), 403, "Forbidden");
    await expectGraphError(
      await call(`/v1.0/subscriptions`, { method: "POST", body }),
      401,
      "InvalidAuthenticationToken",
    );
    expect((await create(await userToken(newUserId(), "Presence.Read.All"), body)).status).toBe(201);
  });
});

describe("managing subscriptions", () => {
  it("lists, reads, renews, reauthorizes and deletes; others' subscriptions are 404", async () => {
    const token = await subscriber();
    const created = (await (await create(token, subscription([newUserId()]))).json()) as { id: string };
    const list = (await (await call(`/beta/subscriptions`, { token })).json()) as { value: { id: string }[] };
    expect(list.value.map((s) => s.id)).toContain(created.id);
    expect((await call(`/v1.0/subscriptions/${created.id}`, { token })).status).toBe(200);

    const renewed = await call(`/v1.0/subscriptions/${created.id}`, {
      method: "PATCH",
      token,
      body: { expirationDateTime: inMinutes(59) },
    });
    expect(renewed.status).toBe(200);
    expect(Date.parse(((await renewed.json()) as { expirationDateTime: string }).expirationDateTime)).toBeGreaterThan(
      Date.now() + 58 * MIN,
    );
    await expectGraphError(
      await call(`/v1.0/subscriptions/${created.id}`, {
        method: "PATCH",
        token,
        body: { expirationDateTime: inMinutes(90) },
      }),
      400,
      "BadRequest",
    );
    await expectGraphError(
      await call(`/v1.0/subscriptions/${created.id}`, {
        method: "PATCH",
        token,
        body: { lifecycleNotificationUrl: "http://receiver.test/x" },
      }),
      400,
      "BadRequest",
      /Unknown parameter 'lifecycleNotificationUrl'/,
    );
    expect((await call(`/v1.0/subscriptions/${created.id}/reauthorize`, { method: "POST", token })).status).toBe(204);

    // Another app, another tenant, another delegated user of the same app: 404.
    for (const other of [
      await appToken(["Presence.Read.All"], { app: OTHER_APP }),
      await appToken(["Presence.Read.All"], { tenant: "99999999-9999-4999-8999-999999999999" }),
      await userToken(newUserId(), "Presence.Read.All"),
    ]) {
      await expectGraphError(await call(`/v1.0/subscriptions/${created.id}`, { token: other }), 404, "NotFound");
      await expectGraphError(
        await call(`/v1.0/subscriptions/${created.id}`, { method: "DELETE", token: other }),
        404,
        "NotFound",
      );
    }

    expect((await call(`/v1.0/subscriptions/${created.id}`, { method: "DELETE", token })).status).toBe(204);
    await expectGraphError(await call(`/v1.0/subscriptions/${created.id}`, { token }), 404, "NotFound");
    await expectGraphError(await call(`/v1.0/subscriptions`, { method: "PUT", token }), 405, "MethodNotAllowed");
  });
});

describe("delivery", () => {
  it("posts a Graph notification for every change of a watched user, through the queue", async () => {
    const [a, b] = [newUserId(), newUserId()];
    const created = (await (await create(await subscriber(), subscription([a, b]))).json()) as {
      id: string;
      expirationDateTime: string;
    };
    await setPresence(a);
    await setPresence(b, "Away", "Away");
    await receiver.waitFor(1);
    while (receiver.items().length < 2) await receiver.waitFor(receiver.received.length + 1);
    const items = receiver.items();
    expect(items.map((i) => i.resource).sort()).toEqual(
      [`communications/presences/${a}`, `communications/presences/${b}`].sort(),
    );
    expect(items[0]).toMatchObject({
      subscriptionId: created.id,
      clientState: "secret-state",
      changeType: "updated",
      tenantId: TENANT,
      organizationId: TENANT,
      subscriptionExpirationDateTime: created.expirationDateTime,
      resourceData: { "@odata.type": "#microsoft.graph.presence" },
    });
    expect(receiver.received[0]?.url.searchParams.get("tenant")).toBe("contoso");
  });

  it("retries after a 500 and loses nothing", async () => {
    const user = newUserId();
    await create(await subscriber(), subscription([user]));
    receiver.script.push("fail");
    await setPresence(user);
    const [failed, retried] = await receiver.waitFor(2, 30_000);
    expect(retried?.body.value).toEqual(failed?.body.value);
  }, 40_000);

  it("stops after the subscription is deleted: its users forget it", async () => {
    const user = newUserId();
    const token = await subscriber();
    const created = (await (await create(token, subscription([user]))).json()) as { id: string };
    expect((await relayRegistrations(user)).subscriptions).toEqual([created.id]);
    await call(`/v1.0/subscriptions/${created.id}`, { method: "DELETE", token });
    expect((await relayRegistrations(user)).subscriptions).toEqual([]);
    // D29: nobody ever wrote this user, so nothing of it is left, in its object or its relays.
    expect(await tablesOf(env.USER_PRESENCE.getByName(`${TENANT}:${user}`))).toEqual([]);
  });
});

describe("the queue consumer", () => {
  async function consume(job: NotificationJob, attempts: number) {
    const batch = createMessageBatch<NotificationJob>("presence-notifications", [
      { id: "m1", timestamp: Date.now(), attempts, body: job },
    ]);
    // The test harness does not report retry delays, so the message's retry is watched directly.
    const retry = vi.spyOn(batch.messages[0] as Message<NotificationJob>, "retry");
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, ctx);
    return { ...result, retryDelays: retry.mock.calls.map(([options]) => options?.delaySeconds) };
  }

  const busyView: PresenceView = {
    availability: "Busy",
    activity: "InACall",
    statusMessage: null,
    outOfOfficeSettings: { message: null, isOutOfOffice: false },
    workLocation: { workLocationType: "unspecified", source: "none", placeId: null },
    sequenceNumber: "00000000000000000001",
  };

  async function jobFor(extra: Record<string, unknown> = {}): Promise<ChangeJob> {
    const user = newUserId();
    const created = (await (await create(await subscriber(), subscription([user], extra))).json()) as { id: string };
    return {
      kind: "change",
      tenantId: TENANT,
      userId: user,
      sequenceNumber: "00000000000000000001",
      views: { other: busyView },
      items: [{ subscriptionId: created.id, appId: APP, audience: "other" }],
      firstAttemptAt: Date.now(),
    };
  }

  it.each([
    [1, 5],
    [2, 10],
    [3, 20],
    [7, 320],
    [8, 600],
    [20, 600],
  ])("after failed attempt %i retries in %i s", async (attempts, delay) => {
    const job = await jobFor();
    receiver.script.push("fail");
    const result = await consume(job, attempts);
    expect(result.retryDelays).toEqual([delay]);
    expect(result.explicitAcks).toEqual([]);
  });

  it("counts a slow answer as a failure", async () => {
    const job = await jobFor();
    receiver.script.push("slow");
    expect((await consume(job, 1)).retryDelays).toEqual([5]);
  });

  it("acknowledges a delivery", async () => {
    const job = await jobFor();
    const result = await consume(job, 1);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(receiver.items()).toHaveLength(1);
  });

  it("gives up a notification undelivered for 4 hours: a dead letter, with a log line (D31)", async () => {
    const job = await jobFor();
    receiver.script.push("fail");
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const result = await consume({ ...job, firstAttemptAt: Date.now() - 4 * 60 * MIN }, 30);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(result.retryDelays).toEqual([]);
    expect(log.mock.calls.some(([line]) => String(line).includes("notification dead-lettered"))).toBe(true);
    // test/api/dead-letters.test.ts follows the letter to the operator and back to the receiver.
  });

  it("sends nothing for a deleted subscription", async () => {
    const job = await jobFor();
    await call(`/v1.0/subscriptions/${job.items[0]?.subscriptionId}`, { method: "DELETE", token: await subscriber() });
    const result = await consume(job, 1);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(receiver.received).toEqual([]);
  });

  it("batches several notifications for one URL into one POST", async () => {
    const jobs = [await jobFor(), await jobFor()];
    const batch = createMessageBatch<NotificationJob>(
      "presence-notifications",
      jobs.map((body, i) => ({ id: `m${i}`, timestamp: Date.now(), attempts: 1, body })),
    );
    await worker.queue(batch, env);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.body.value).toHaveLength(2);
  });
});

describe("lifecycle and expiry", () => {
  it("sends reauthorizationRequired 5 minutes before expiry and deletes the subscription at expiry, through the alarm", async () => {
    const t0 = Date.UTC(2031, 5, 1, 12, 0);
    vi.useFakeTimers({ now: t0, toFake: ["Date"] });
    const user = newUserId();
    // An application of its own, so that its registry holds only this subscription.
    const app = crypto.randomUUID();
    const token = await appToken(["Presence.Read.All"], { app });
    const created = (await (
      await create(
        token,
        subscription([user], {
          lifecycleNotificationUrl: "http://lifecycle.test/events",
          expirationDateTime: new Date(t0 + 30 * MIN).toISOString(),
        }),
      )
    ).json()) as { id: string };
    const registry = env.SUBSCRIPTION_REGISTRY.getByName(`${TENANT}:${app}`);
    expect(await runInDurableObject(registry, (_i, state) => state.storage.getAlarm())).toBe(t0 + 25 * MIN);

    vi.setSystemTime(t0 + 25 * MIN);
    expect(await runDurableObjectAlarm(registry)).toBe(true);
    vi.useRealTimers();
    await receiver.waitFor(1);
    expect(receiver.received[0]?.url.hostname).toBe("lifecycle.test");
    expect(receiver.items()[0]).toMatchObject({
      subscriptionId: created.id,
      lifecycleEvent: "reauthorizationRequired",
      clientState: "secret-state",
    });

    vi.useFakeTimers({ now: t0 + 30 * MIN, toFake: ["Date"] });
    expect(await runDurableObjectAlarm(registry)).toBe(true);
    await expectGraphError(await call(`/v1.0/subscriptions/${created.id}`, { token }), 404, "NotFound");
    expect((await relayRegistrations(user)).subscriptions).toEqual([]);
  });
});
