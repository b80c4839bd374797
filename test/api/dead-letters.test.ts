import { createMessageBatch, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { shardOf } from "../../src/domain/fanout";
import worker from "../../src/index";
import type { NotificationJob } from "../../src/notifications/jobs";
import { DEAD_LETTERS_PER_APP, type DeadLetter, type DeadLetterStore } from "../../src/objects/dead-letter-store";
import { OUTBOX_LEASE_MS } from "../../src/objects/notification-outbox";
import {
  APP,
  appToken,
  call,
  callWith,
  eventually,
  expectGraphError,
  freezeClockAt,
  newUserId,
  subscribe,
  TENANT,
  tablesOf,
} from "../helpers";
import { WebhookReceiver } from "../webhooks";

// D31: a notification that exhausts its retries is kept for the operator (dead-letter) for 7 days
// instead of vanishing; the operator lists them per subscription and sends them again.

const HOUR = 60 * 60_000;
const DAY = 24 * HOUR;
let receiver: WebhookReceiver;

beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const operator = { authorization: `Bearer ${env.OPERATOR_TOKEN}` };
const lettersPath = (subscriptionId?: string, app = APP) =>
  `/ops/deadLetters/${TENANT}/${app}${subscriptionId ? `?subscriptionId=${subscriptionId}` : ""}`;

interface ListedLetter {
  subscriptionId: string;
  kind: string;
  reason: string;
  lastStatus: string | null;
  notification: NotificationJob;
}

async function listLetters(subscriptionId?: string, app = APP): Promise<ListedLetter[]> {
  const response = await call(lettersPath(subscriptionId, app), { headers: operator });
  expect(response.status).toBe(200);
  return ((await response.json()) as { value: ListedLetter[] }).value;
}

const replay = (subscriptionId: string, app = APP) =>
  call(`/ops/deadLetters/${TENANT}/${app}/replay`, { headers: operator, body: { subscriptionId } });

async function setStatus(user: string, content: string) {
  const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
    method: "POST",
    token: await appToken(),
    body: { statusMessage: { message: { content } } },
  });
  expect(response.status).toBe(200);
}

/** The relay that keeps the jobs of `subscriptionId` for `user`, and its outbox rows. */
const relayOf = (user: string, subscriptionId: string) =>
  env.FANOUT_RELAY.getByName(`${TENANT}:${user}:${shardOf(subscriptionId)}`);
const outboxOf = (relay: DurableObjectStub) =>
  runInDurableObject(relay, (_i, state) => {
    const sql = state.storage.sql;
    const has = sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").toArray().length > 0;
    return has ? sql.exec<{ id: string; due: number }>("SELECT id, due FROM outbox").toArray() : [];
  });

describe("a receiver that is down for good", () => {
  it("ends in the dead-letter store with its subscription id and payload, and a replay reaches it once it recovered", async () => {
    const user = newUserId();
    const subscriptionId = await subscribe(user, await appToken(["Presence.Read.All"]), "http://receiver.test/down");
    receiver.otherwise = "fail";
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    await setStatus(user, "nobody hears this");
    await receiver.waitFor(1);
    // The failed job waits in its relay's outbox for its retry, 5 s later.
    const relay = relayOf(user, subscriptionId);
    await eventually(async () => (await outboxOf(relay)).some((row) => row.due > Date.now() + 1_000));

    // Four hours on (as if: the job's first attempt is moved back), its retry fails again: the
    // notification is given up and kept.
    await runInDurableObject(relay, (_i, state) => {
      state.storage.sql.exec(
        "UPDATE outbox SET job = json_set(job, '$.firstAttemptAt', ?), due = ?",
        Date.now() - 4 * HOUR,
        Date.now(),
      );
    });
    expect(await runDurableObjectAlarm(relay)).toBe(true);
    await eventually(async () => (await outboxOf(relay)).length === 0);
    expect(receiver.received.length).toBeGreaterThanOrEqual(2);
    const [letter, ...others] = await listLetters(subscriptionId);
    expect(others).toEqual([]);
    expect(letter).toMatchObject({
      subscriptionId,
      kind: "change",
      reason: "undelivered for 4 hours",
      lastStatus: "500",
      notification: {
        userId: user,
        items: [{ subscriptionId, appId: APP, audience: "other" }],
        views: { other: { statusMessage: { message: { content: "nobody hears this" } } } },
      },
    });
    const line = log.mock.calls.map(([l]) => String(l)).find((l) => l.includes("notification dead-lettered"));
    expect(JSON.parse(line ?? "{}")).toMatchObject({ tenantId: TENANT, appId: APP, subscriptionIds: [subscriptionId] });
    // The log line names the subscription, never the payload.
    expect(line).not.toContain("nobody hears this");

    // The receiver is back; the operator sends the letter again.
    vi.useRealTimers();
    receiver.otherwise = "ok";
    const before = receiver.received.length;
    const replayed = await replay(subscriptionId);
    expect(await replayed.json()).toEqual({ replayed: 1, more: false });
    await receiver.waitFor(before + 1);
    expect(receiver.received.at(-1)?.body.value).toMatchObject([
      { subscriptionId, resource: `communications/presences/${user}` },
    ]);
    expect(await listLetters(subscriptionId)).toEqual([]);
    // Delivered: neither the relay's outbox nor the store keeps anything.
    await eventually(async () => (await outboxOf(relay)).length === 0);
    expect(await tablesOf(env.DEAD_LETTERS.getByName(`${TENANT}:${APP}`))).toEqual([]);
  });

  it("keeps a lifecycle notice still undelivered when its subscription ends", async () => {
    const user = newUserId();
    const app = crypto.randomUUID();
    const subscriptionId = await subscribe(
      user,
      await appToken(["Presence.Read.All"], { app }),
      "http://receiver.test/x",
    );
    await call(`/v1.0/subscriptions/${subscriptionId}`, {
      method: "DELETE",
      token: await appToken(["Presence.Read.All"], { app }),
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const job: NotificationJob = {
      kind: "lifecycle",
      tenantId: TENANT,
      appId: app,
      subscriptionId,
      lifecycleEvent: "reauthorizationRequired",
      firstAttemptAt: Date.now() - 5 * 60_000,
    };
    // Its seventh try, after six that failed.
    const batch = createMessageBatch<NotificationJob>("presence-notifications", [
      { id: "m1", timestamp: Date.now(), attempts: 7, body: job },
    ]);
    await worker.queue(batch, env);
    expect(await listLetters(subscriptionId, app)).toMatchObject([
      { subscriptionId, kind: "lifecycle", reason: "subscription ended before delivery" },
    ]);
    // Nothing to send it to: a replay says so, and the letter stays.
    await expectGraphError(await replay(subscriptionId, app), 404, "NotFound");
    expect(await listLetters(subscriptionId, app)).toHaveLength(1);
  });

  it("keeps what the queue itself gave up on (its dead-letter queue)", async () => {
    const app = crypto.randomUUID();
    const subscriptionId = crypto.randomUUID();
    const job: NotificationJob = {
      kind: "change",
      tenantId: TENANT,
      userId: newUserId(),
      sequenceNumber: "00000000000000000001",
      views: {},
      items: [{ subscriptionId, appId: app, audience: "other" }],
      firstAttemptAt: Date.now(),
    };
    vi.spyOn(console, "error").mockImplementation(() => {});
    const batch = createMessageBatch<NotificationJob>("presence-notifications-dead", [
      { id: "m1", timestamp: Date.now(), attempts: 1, body: job },
    ]);
    await worker.queue(batch, env);
    expect(await listLetters(subscriptionId, app)).toMatchObject([
      { subscriptionId, reason: "queue retries exhausted" },
    ]);
  });
});

describe("the dead-letter store", () => {
  const letter = (subscriptionId: string): DeadLetter => ({
    subscriptionId,
    reason: "undelivered for 4 hours",
    lastStatus: "500",
    attempts: 30,
    job: {
      kind: "lifecycle",
      tenantId: TENANT,
      appId: APP,
      subscriptionId,
      lifecycleEvent: "reauthorizationRequired",
      firstAttemptAt: 0,
    },
  });

  it("keeps letters 7 days, then nothing at all", async () => {
    const store = env.DEAD_LETTERS.getByName(`${TENANT}:${crypto.randomUUID()}`);
    const t0 = Date.now();
    freezeClockAt(t0);
    await store.keep([letter(crypto.randomUUID())]);
    freezeClockAt(t0 + DAY);
    await store.keep([letter(crypto.randomUUID())]);
    freezeClockAt(t0 + 7 * DAY);
    expect(await runDurableObjectAlarm(store)).toBe(true);
    expect(await store.list(null, 0)).toHaveLength(1);
    freezeClockAt(t0 + 8 * DAY);
    expect(await runDurableObjectAlarm(store)).toBe(true);
    expect(await tablesOf(store)).toEqual([]);
  });

  it("keeps at most its quota per application, the oldest going first, with a log line", async () => {
    const store = env.DEAD_LETTERS.getByName(`${TENANT}:${crypto.randomUUID()}`);
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const first = crypto.randomUUID();
    await runInDurableObject(store, async (instance: DeadLetterStore) => {
      await instance.keep([letter(first)]);
      await instance.keep(Array.from({ length: DEAD_LETTERS_PER_APP }, () => letter(crypto.randomUUID())));
    });
    expect(await store.list(first, 0)).toEqual([]);
    const count = await runInDurableObject(
      store,
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM letters").one().n,
    );
    expect(count).toBe(DEAD_LETTERS_PER_APP);
    expect(log.mock.calls.some(([l]) => String(l).includes("dead letters over quota"))).toBe(true);
  });
});

describe("the outbox", () => {
  it("sends a job again when the queue lost it, once its lease runs out", async () => {
    const user = newUserId();
    const subscriptionId = await subscribe(user, await appToken(["Presence.Read.All"]), "http://receiver.test/lost");
    // The queue answers but keeps nothing, as the local queue after a crash.
    const lost = vi.spyOn(env.NOTIFICATIONS, "sendBatch").mockResolvedValue({} as QueueSendBatchResponse);
    await setStatus(user, "lost on the queue");
    const relay = relayOf(user, subscriptionId);
    await eventually(async () => (await outboxOf(relay)).length === 1);
    expect(lost).toHaveBeenCalled();
    lost.mockRestore();
    expect(receiver.received).toEqual([]);

    freezeClockAt(Date.now() + OUTBOX_LEASE_MS + 1_000);
    expect(await runDurableObjectAlarm(relay)).toBe(true);
    vi.useRealTimers();
    await receiver.waitFor(1);
    expect(receiver.items()).toMatchObject([{ subscriptionId }]);
    await eventually(async () => (await outboxOf(relay)).length === 0);
    // Nothing owed, nothing to wake up for.
    expect(await runInDurableObject(relay, (_i, state) => state.storage.getAlarm())).toBeNull();
  });
});

describe("the operator routes", () => {
  it("do not exist without OPERATOR_TOKEN, or with one too short to be safe", async () => {
    for (const OPERATOR_TOKEN of [undefined, "short"]) {
      await expectGraphError(await callWith({ OPERATOR_TOKEN }, lettersPath(), { headers: operator }), 404, "NotFound");
    }
  });

  it("refuse a missing or wrong token, and a tenant's own token, with 401", async () => {
    await expectGraphError(await call(lettersPath()), 401, "InvalidAuthenticationToken");
    await expectGraphError(
      await call(lettersPath(), { headers: { authorization: `Bearer ${env.OPERATOR_TOKEN}x` } }),
      401,
      "InvalidAuthenticationToken",
    );
    await expectGraphError(await call(lettersPath(), { token: await appToken() }), 401, "InvalidAuthenticationToken");
    await expectGraphError(
      await call(`/ops/deadLetters/${TENANT}/${APP}/replay`, {
        token: await appToken(),
        body: { subscriptionId: "x" },
      }),
      401,
      "InvalidAuthenticationToken",
    );
  });

  it("answer bad input with the Graph error envelope", async () => {
    await expectGraphError(await call(`/ops/deadLetters/contoso/${APP}`, { headers: operator }), 400, "BadRequest");
    await expectGraphError(
      await call(`${lettersPath()}?subscriptionId=nope`, { headers: operator }),
      400,
      "BadRequest",
    );
    await expectGraphError(await call(`${lettersPath()}?after=-1`, { headers: operator }), 400, "BadRequest");
    await expectGraphError(await replay("not-a-guid"), 400, "BadRequest");
    await expectGraphError(
      await call(`/ops/deadLetters/${TENANT}/${APP}/replay`, { headers: operator, body: { subscriptionId: 1 } }),
      400,
      "BadRequest",
    );
    await expectGraphError(await call(lettersPath(), { method: "DELETE", headers: operator }), 405, "MethodNotAllowed");
  });
});
