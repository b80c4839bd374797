import { BatchRequestContent, BatchResponseContent, Client, GraphError } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalService } from "./local-service";
import { startWebhookReceiver } from "./webhook-receiver";

// The official Microsoft Graph JavaScript client pointed at our base URL, for
// every endpoint of the core API: what a Graph user's code sees, unchanged.

const TENANT = "4a6b4a9e-7f43-4b5b-9c39-0c1d2e3f4a5b";
const APP = "5c1b0ba8-3f0e-4f55-8f6a-9d8c7b6a5f4e";
const ME = "6d2c1cb9-4a1f-4a66-9a7b-0e9d8c7b6a5f";
const OTHER = "7e3d2dca-5b2a-4b77-8b8c-1fae9d8c7b6a";
const NOBODY = "8f4e3edb-6c3b-4c88-9c9d-2a0bfe9d8c7b";

let service: Awaited<ReturnType<typeof startLocalService>>;
let me: Client;
let app: Client;

function clientFor(token: string): Client {
  // The Graph client attaches tokens only to https hosts and strips an
  // "Authorization" header for others; against local http the header goes in
  // fetchOptions, spelled in lower case, which it leaves alone.
  return Client.init({
    baseUrl: service.url,
    defaultVersion: "v1.0",
    authProvider: (done) => done(null, token),
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
}

beforeAll(async () => {
  service = await startLocalService();
  me = clientFor(
    await service.sign({
      tid: TENANT,
      oid: ME,
      appid: APP,
      scp: "Presence.Read Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite",
    }),
  );
  app = clientFor(await service.sign({ tid: TENANT, appid: APP, roles: ["Presence.ReadWrite.All"] }));
});

afterAll(async () => {
  await service?.stop();
});

async function graphErrorOf(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GraphError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describe("the official Graph client against the service", () => {
  it("reads presence through /me, /users/{id} and /communications/presences/{id}, v1.0 and beta", async () => {
    const fromMe = await me.api("/me/presence").get();
    expect(fromMe).toMatchObject({ id: ME, availability: "Offline", activity: "Offline", statusMessage: null });
    expect(fromMe["@odata.context"]).toBe(`${service.url}/v1.0/$metadata#users('${ME}')/presence/$entity`);
    expect(await me.api(`/users/${ME}/presence`).version("beta").get()).toMatchObject({ id: ME });
    expect(await app.api(`/communications/presences/${OTHER}`).get()).toMatchObject({
      id: OTHER,
      availability: "Offline",
    });
  });

  it("sets and clears an application session", async () => {
    await app.api(`/users/${OTHER}/presence/setPresence`).post({
      sessionId: APP,
      availability: "Busy",
      activity: "InACall",
      expirationDuration: "PT1H",
    });
    expect(await app.api(`/users/${OTHER}/presence`).get()).toMatchObject({
      availability: "Busy",
      activity: "InACall",
    });
    await app.api(`/communications/presences/${OTHER}/clearPresence`).post({ sessionId: APP });
    expect(await app.api(`/users/${OTHER}/presence`).get()).toMatchObject({ availability: "Offline" });
  });

  it("sets and clears the preferred presence and the status message as the signed-in user", async () => {
    await me
      .api("/me/presence/setPresence")
      .post({ sessionId: APP, availability: "Available", activity: "Available", expirationDuration: "PT1H" });
    await me
      .api("/me/presence/setUserPreferredPresence")
      .post({ availability: "DoNotDisturb", activity: "DoNotDisturb", expirationDuration: "PT8H" });
    await me.api("/me/presence/setStatusMessage").post({
      statusMessage: {
        message: { content: "Heads down until lunch", contentType: "text" },
        expiryDateTime: { dateTime: "2099-10-18T17:05:33.2079781", timeZone: "Pacific Standard Time" },
      },
    });
    const presence = await me.api("/me/presence").get();
    expect(presence).toMatchObject({
      availability: "DoNotDisturb",
      activity: "DoNotDisturb",
      statusMessage: {
        message: { content: "Heads down until lunch", contentType: "text" },
        // D28: the caller's seven digits survive the conversion to UTC.
        expiryDateTime: { dateTime: "2099-10-19T00:05:33.2079781", timeZone: "UTC" },
      },
    });
    await me.api("/me/presence/clearUserPreferredPresence").post({});
    await me.api("/me/presence/setStatusMessage").post({ statusMessage: null });
    expect(await me.api("/me/presence").get()).toMatchObject({ availability: "Available", statusMessage: null });
  });

  it("reads many users with getPresencesByUserId", async () => {
    const result = await me.api("/communications/getPresencesByUserId").post({ ids: [OTHER, ME] });
    expect(result.value.map((p: { id: string }) => p.id)).toEqual([OTHER, ME]);
  });

  it("sets and clears the work location layers", async () => {
    await me.api("/me/presence/setAutomaticLocation").post({ workLocationType: "remote" });
    await me.api(`/users/${ME}/presence/setManualLocation`).post({ workLocationType: "office", placeId: "bldg-1" });
    expect((await me.api("/me/presence").get()).workLocation).toEqual({
      workLocationType: "office",
      source: "manual",
      placeId: "bldg-1",
    });
    await me.api(`/communications/presences/${ME}/clearAutomaticLocation`).post(undefined);
    await me.api("/me/presence/clearLocation").post({});
    expect((await me.api("/me/presence").get()).workLocation).toEqual({
      workLocationType: "unspecified",
      source: "none",
      placeId: null,
    });
  });

  it("reads and patches mailboxSettings, and presence shows out of office", async () => {
    const updated = await me.api("/me/mailboxSettings").patch({
      timeZone: "Tokyo Standard Time",
      automaticRepliesSetting: { status: "alwaysEnabled", internalReplyMessage: "Back Monday" },
    });
    expect(updated).toMatchObject({
      timeZone: "Tokyo Standard Time",
      automaticRepliesSetting: { status: "alwaysEnabled" },
    });
    expect(await me.api(`/users/${ME}/mailboxSettings`).version("beta").get()).toMatchObject({
      timeZone: "Tokyo Standard Time",
    });
    expect((await me.api("/me/presence").get()).outOfOfficeSettings).toEqual({
      isOutOfOffice: true,
      message: "Back Monday",
    });
    await me.api("/me/mailboxSettings").patch({ automaticRepliesSetting: { status: "disabled" } });
    const error = await graphErrorOf(
      me.api("/me/mailboxSettings").patch({ automaticRepliesSetting: { status: "scheduled" } }),
    );
    expect([error.statusCode, error.code]).toEqual([400, "BadRequest"]);
  });

  it("creates a subscription, and a Graph-style webhook receiver gets the change", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const subscription = await app.api("/subscriptions").post({
        changeType: "updated",
        notificationUrl: receiver.url,
        resource: `/communications/presences?$filter=id in ('${OTHER}')`,
        expirationDateTime: new Date(Date.now() + 30 * 60_000).toISOString(),
        clientState: "compat",
      });
      expect(subscription).toMatchObject({ changeType: "updated", clientState: "compat" });
      const listed = await app.api("/subscriptions").get();
      expect(listed.value.map((s: { id: string }) => s.id)).toContain(subscription.id);
      await app
        .api(`/users/${OTHER}/presence/setPresence`)
        .post({ sessionId: APP, availability: "Away", activity: "Away" });
      const [first] = await receiver.waitFor(1);
      expect(first?.body.value[0]).toMatchObject({
        subscriptionId: subscription.id,
        clientState: "compat",
        resource: `communications/presences/${OTHER}`,
      });
      await app
        .api(`/subscriptions/${subscription.id}`)
        .patch({ expirationDateTime: new Date(Date.now() + 50 * 60_000).toISOString() });
      await app.api(`/subscriptions/${subscription.id}`).delete();
      const gone = await graphErrorOf(app.api(`/subscriptions/${subscription.id}`).get());
      expect(gone.statusCode).toBe(404);
    } finally {
      await receiver.stop();
    }
  });

  it("surfaces a 400 as a GraphError with Graph's fields", async () => {
    const error = await graphErrorOf(
      app.api(`/users/${OTHER}/presence/setPresence`).post({ sessionId: APP, availability: "Busy", activity: "Busy" }),
    );
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe("BadRequest");
    expect(error.message).toMatch(/availability 'Busy' and activity 'Busy' is not supported/);
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(error.date).toBeInstanceOf(Date);
  });

  it("sends a batch with BatchRequestContent and reads it with BatchResponseContent", async () => {
    const batch = new BatchRequestContent([
      {
        id: "set",
        request: new Request(`${service.url}/v1.0/me/presence/setStatusMessage`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ statusMessage: { message: { content: "batched", contentType: "text" } } }),
        }),
      },
      { id: "read", request: new Request(`${service.url}/v1.0/me/presence?$select=statusMessage`), dependsOn: ["set"] },
    ]);
    const response = new BatchResponseContent(await me.api("/$batch").post(await batch.getContent()));
    expect(response.getResponseById("set")?.status).toBe(200);
    const read = response.getResponseById("read");
    expect(read?.status).toBe(200);
    expect(await read?.json()).toEqual({
      "@odata.context": `${service.url}/v1.0/$metadata#users('${ME}')/presence(statusMessage)/$entity`,
      id: ME,
      statusMessage: expect.objectContaining({ message: { content: "batched", contentType: "text" } }),
    });
    await me.api("/me/presence/setStatusMessage").post({ statusMessage: null });
  });

  it("reads Graph's OData JSON content type, with $select, and POSTs the namespaced getPresencesByUserId", async () => {
    const selected = await app.api(`/users/${OTHER}/presence`).select(["availability", "activity"]).get();
    expect(Object.keys(selected).sort()).toEqual(["@odata.context", "activity", "availability", "id"]);
    const result = await me.api("/communications/microsoft.graph.getPresencesByUserId").post({ ids: [OTHER] });
    expect(result.value.map((p: { id: string }) => p.id)).toEqual([OTHER]);
  });

  it("surfaces 403 and 404 the same way", async () => {
    const forbidden = await graphErrorOf(
      me.api(`/users/${OTHER}/presence/setStatusMessage`).post({ statusMessage: null }),
    );
    expect([forbidden.statusCode, forbidden.code]).toEqual([403, "Forbidden"]);
    const missing = await graphErrorOf(app.api(`/users/${NOBODY}/presence/clearPresence`).post({ sessionId: APP }));
    expect([missing.statusCode, missing.code]).toEqual([404, "NotFound"]);
  });
});
