import { runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  APP,
  appToken,
  call,
  newUserId,
  relayRegistrations,
  schemaAsOfVersion,
  tablesOf,
  userObject,
} from "../helpers";
import { WebhookReceiver } from "../webhooks";

// A user object written before the fan-out tree (schema version 4: its own subscribers and
// outbox tables) keeps working after an upgrade, and loses none of its subscriptions or
// pending notifications.

let receiver: WebhookReceiver;
beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const HOUR = 3_600_000;

/** Writes `user`'s object as version 4 left it: a busy session, one subscription, one pending job. */
async function writtenBeforeTheTree(user: string, subscriptionId: string) {
  const now = Date.now();
  await runInDurableObject(userObject(user), (_i, state) => {
    const sql = state.storage.sql;
    schemaAsOfVersion(sql, 4);
    sql.exec(
      "INSERT INTO sessions (session_id, availability, activity, refreshed_at, expires_at) VALUES (?, 'Busy', 'InACall', ?, ?)",
      APP,
      now,
      now + HOUR,
    );
    sql.exec("INSERT INTO meta (key, value) VALUES ('sequence', '3')");
    sql.exec("INSERT INTO subscribers (subscription_id, app_id, audience) VALUES (?, ?, 'other')", subscriptionId, APP);
    // A notification job that version 4 wrote and had not yet handed to the queue.
    const job = {
      kind: "change",
      tenantId: "11111111-1111-4111-8111-111111111111",
      appId: APP,
      subscriptionId,
      userId: user,
      presence: { id: user, availability: "Busy", activity: "InACall", sequenceNumber: "00000000000000000003" },
      firstAttemptAt: now,
    };
    sql.exec("INSERT INTO outbox (jobs) VALUES (?)", JSON.stringify([job]));
  });
}

describe("an object written before the fan-out tree", () => {
  it("answers, hands its subscriptions to the relays and its outbox to the queue, and notifies as before", async () => {
    // A subscription the registry knows (created on another user, so nothing of it touches ours).
    const token = await appToken(["Presence.Read.All"]);
    const created = (await (
      await call(`/v1.0/subscriptions`, {
        method: "POST",
        token,
        body: {
          changeType: "updated",
          notificationUrl: "http://receiver.test/upgraded",
          resource: `/communications/presences/${newUserId()}`,
          expirationDateTime: new Date(Date.now() + 50 * 60_000).toISOString(),
        },
      })
    ).json()) as { id: string };
    const user = newUserId();
    await writtenBeforeTheTree(user, created.id);

    const read = await call(`/v1.0/users/${user}/presence`, { token });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ availability: "Busy", activity: "InACall" });
    expect((await relayRegistrations(user)).subscriptions).toEqual([created.id]);
    // The pending job went to the queue and reached the receiver, in the old shape.
    await receiver.waitFor(1);
    expect(receiver.items()[0]).toMatchObject({
      subscriptionId: created.id,
      resource: `communications/presences/${user}`,
    });
    const tables = await tablesOf(userObject(user));
    expect(tables).not.toContain("legacy_subscribers");
    expect(tables).not.toContain("legacy_outbox");

    const write = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
      token: await appToken(),
      body: { statusMessage: { message: { content: "after the upgrade" } } },
    });
    expect(write.status).toBe(200);
    await receiver.waitFor(2);
    expect(receiver.items()[1]).toMatchObject({ subscriptionId: created.id });
  });
});
