import { describe, expect, it, vi } from "vitest";
import { APP, appToken, type CallOptions, call, newUserId, userToken } from "../helpers";
import { openWatch, settleEvents } from "../sockets";
import { WebhookReceiver } from "../webhooks";

// D2: every user lives inside its tenant. Two tenants here use the very same
// user ids and the same application id; nothing one of them does may be seen
// or changed by the other, through any channel: HTTP, WebSocket watchers and
// subscriptions each get their own block below, built on the same fixtures.

const DELEGATED_SCOPES = "Presence.Read Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite";
const APP_ROLES = ["Presence.ReadWrite.All", "MailboxSettings.ReadWrite"];

/** A tenant of its own, with tokens for any of its users and for the shared application. */
function newTenant() {
  const tenant = crypto.randomUUID();
  return {
    tenant,
    userToken: (user: string) => userToken(user, DELEGATED_SCOPES, { tenant }),
    appToken: () => appToken(APP_ROLES, { tenant }),
  };
}
type Tenant = ReturnType<typeof newTenant>;

/** Two tenants and users whose ids exist in both. */
function twoTenantsSharingUserIds() {
  return { a: newTenant(), b: newTenant(), user: newUserId(), otherUser: newUserId() };
}

async function send(path: string, options: CallOptions) {
  const response = await call(path, options);
  return { status: response.status, body: response.status === 200 ? await response.text() : "" };
}

/** Every kind of write the API has, for `user` in `tenant`; each must succeed. */
async function writeEverything(t: Tenant, user: string) {
  const asUser = await t.userToken(user);
  const asApp = await t.appToken();
  const writes: [string, CallOptions][] = [
    // The time zone first: work location belongs to the user's local date.
    [
      "/v1.0/me/mailboxSettings",
      {
        method: "PATCH",
        token: asUser,
        body: { timeZone: "Tokyo Standard Time", automaticRepliesSetting: { status: "alwaysEnabled" } },
      },
    ],
    [
      `/v1.0/users/${user}/presence/setPresence`,
      { token: asApp, body: { sessionId: APP, availability: "Busy", activity: "InACall", expirationDuration: "PT1H" } },
    ],
    [
      "/v1.0/me/presence/setUserPreferredPresence",
      { token: asUser, body: { availability: "DoNotDisturb", activity: "DoNotDisturb" } },
    ],
    [
      "/v1.0/me/presence/setStatusMessage",
      { token: asUser, body: { statusMessage: { message: { content: `secret of ${t.tenant}` } } } },
    ],
    ["/v1.0/me/presence/setManualLocation", { token: asUser, body: { workLocationType: "office" } }],
  ];
  for (const [path, options] of writes) {
    expect(`${path} ${(await call(path, options)).status}`).toBe(`${path} 200`);
  }
}

/** Everything `tenant` can read about `user`, through every read path, as the user and as the app. */
async function everythingVisible(t: Tenant, user: string, otherUser: string) {
  const asUser = await t.userToken(user);
  const asApp = await t.appToken();
  return {
    me: await send("/v1.0/me/presence", { token: asUser }),
    byId: await send(`/v1.0/users/${user}/presence`, { token: asApp }),
    communications: await send(`/beta/communications/presences/${user}`, { token: asApp }),
    batch: await send("/v1.0/communications/getPresencesByUserId", {
      token: asApp,
      body: { ids: [user, otherUser] },
    }),
    mailbox: await send("/v1.0/me/mailboxSettings", { token: asUser }),
    mailboxById: await send(`/v1.0/users/${user}/mailboxSettings`, { token: asApp }),
  };
}

describe("tenant isolation: the same user ids in two tenants", () => {
  describe("over HTTP", () => {
    it("shows nothing written in one tenant to the other", async () => {
      const { a, b, user, otherUser } = twoTenantsSharingUserIds();
      const untouched = await everythingVisible(b, user, otherUser);
      await writeEverything(a, user);

      const inA = await everythingVisible(a, user, otherUser);
      expect(JSON.parse(inA.me.body)).toMatchObject({
        availability: "DoNotDisturb",
        workLocation: { source: "manual" },
      });
      expect(inA.me.body).toContain(`secret of ${a.tenant}`);

      const inB = await everythingVisible(b, user, otherUser);
      expect(inB).toEqual(untouched);
      expect(JSON.parse(inB.me.body)).toMatchObject({
        availability: "Offline",
        activity: "Offline",
        statusMessage: null,
        outOfOfficeSettings: { isOutOfOffice: false },
        workLocation: { workLocationType: "unspecified" },
        sequenceNumber: "00000000000000000000",
      });
      expect(JSON.stringify(inB)).not.toContain("secret of");
      expect(JSON.parse(inB.mailbox.body)).toMatchObject({ timeZone: "UTC" });
    });

    it("lets nothing done in one tenant change or clear the other's", async () => {
      const { a, b, user, otherUser } = twoTenantsSharingUserIds();
      await writeEverything(a, user);
      const before = await everythingVisible(a, user, otherUser);

      // Tenant B clears and overwrites everything for the same ids, as the user and as the app.
      const asUser = await b.userToken(user);
      const asApp = await b.appToken();
      expect(
        (await call(`/v1.0/users/${user}/presence/clearPresence`, { token: asApp, body: { sessionId: APP } })).status,
      ).toBe(404);
      for (const [path, body] of [
        ["/v1.0/me/presence/clearUserPreferredPresence", {}],
        ["/v1.0/me/presence/setStatusMessage", { statusMessage: null }],
        ["/v1.0/me/presence/clearLocation", {}],
        ["/v1.0/me/presence/clearAutomaticLocation", {}],
      ] as const) {
        expect((await call(path, { token: asUser, body })).status).toBe(200);
      }
      await writeEverything(b, user);
      await writeEverything(b, otherUser);

      expect(await everythingVisible(a, user, otherUser)).toEqual(before);
      // B's writes landed, in B's own users.
      expect((await everythingVisible(b, user, otherUser)).me.body).toContain(`secret of ${b.tenant}`);
    });
  });

  // Added beside HTTP when WebSocket watchers and subscriptions land, with the same fixtures:
  // writeEverything in tenant A must reach no watcher and no subscription in tenant B.
  it("over WebSocket: a watcher in one tenant hears nothing of the other tenant's writes", async () => {
    const { a, b, user } = twoTenantsSharingUserIds();
    const reader = await appToken(["Presence.Read.All"], { tenant: a.tenant });
    const { socket: single } = await openWatch(`/v1.0/users/${user}/presence/watch`, { token: reader });
    const { socket: hub } = await openWatch(`/v1.0/communications/presences/watch`, { token: reader });
    if (!single || !hub) throw new Error("the watch sockets did not open");
    expect((await single.next()).type).toBe("presence");
    hub.send({ type: "subscribe", ids: [user] });
    await hub.nextOf("subscribed");

    await writeEverything(b, user);
    // Then a change in A: it must be the first change either socket hears.
    await call(`/v1.0/users/${user}/presence/setPresence`, {
      token: await a.appToken(),
      body: { sessionId: APP, availability: "Away", activity: "Away", expirationDuration: "PT1H" },
    });
    for (const socket of [single, hub]) {
      const change = (await socket.nextOf("presence")).presence as Record<string, unknown>;
      expect(change).toMatchObject({ id: user, availability: "Away", statusMessage: null });
      socket.close();
    }
    await settleEvents(100);
  });

  it("over subscriptions: a subscription in one tenant is notified of nothing in the other", async () => {
    const receiver = new WebhookReceiver().install();
    try {
      const { a, b, user } = twoTenantsSharingUserIds();
      const subscriberA = await appToken(["Presence.Read.All"], { tenant: a.tenant });
      const created = await call("/v1.0/subscriptions", {
        token: subscriberA,
        body: {
          changeType: "updated",
          notificationUrl: "http://receiver.test/isolation",
          resource: `/communications/presences/${user}`,
          expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
        },
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      // B, with the same app id, can neither see nor change A's subscription.
      const subscriberB = await appToken(["Presence.Read.All"], { tenant: b.tenant });
      expect((await call(`/v1.0/subscriptions/${id}`, { token: subscriberB })).status).toBe(404);
      expect((await call(`/v1.0/subscriptions/${id}`, { method: "DELETE", token: subscriberB })).status).toBe(404);

      await writeEverything(b, user);
      await call(`/v1.0/users/${user}/presence/setPresence`, {
        token: await a.appToken(),
        body: { sessionId: APP, availability: "Away", activity: "Away", expirationDuration: "PT1H" },
      });
      await receiver.waitFor(1);
      await settleEvents(300);
      expect(receiver.items()).toHaveLength(1);
      expect(receiver.items()[0]).toMatchObject({ subscriptionId: id, tenantId: a.tenant });
    } finally {
      vi.restoreAllMocks();
    }
  });
});
