import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SubscriptionRecord } from "../../src/domain/subscriptions";
import { appToken, call, callWith, expectGraphError, newUserId, TENANT } from "../helpers";
import { WebhookReceiver } from "../webhooks";

// D26: at most SUBSCRIPTIONS_PER_APP (default 1,000) active subscriptions per
// (tenant, app); past it 403 Forbidden naming the limit, before any handshake.

let receiver: WebhookReceiver;
beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

function subscription(user = newUserId()) {
  return {
    changeType: "updated",
    notificationUrl: "http://receiver.test/hook",
    resource: `/communications/presences/${user}`,
    expirationDateTime: inMinutes(50),
  };
}

/** Each test uses an application of its own, so its registry starts empty. */
async function freshApp() {
  const app = crypto.randomUUID();
  return { app, token: await appToken(["Presence.Read.All"], { app }) };
}

const createWith = (limit: string | undefined, token: string, body = subscription()) =>
  callWith({ SUBSCRIPTIONS_PER_APP: limit }, `/v1.0/subscriptions`, { method: "POST", token, body });

const QUOTA_MESSAGE = (limit: number) =>
  `Maximum number of subscriptions has been reached: an application may have at most ${limit} active subscriptions in a tenant.`;

describe("subscription quota (D26)", () => {
  it("refuses the subscription past the limit with 403, without a handshake, and stores nothing", async () => {
    const { token } = await freshApp();
    for (let i = 0; i < 3; i++) expect((await createWith("3", token)).status).toBe(201);
    const handshakes = receiver.handshakes.length;
    const user = newUserId();
    await expectGraphError(await createWith("3", token, subscription(user)), 403, "Forbidden", QUOTA_MESSAGE(3));
    expect(receiver.handshakes).toHaveLength(handshakes);
    const list = (await (await call(`/v1.0/subscriptions`, { token })).json()) as { value: { resource: string }[] };
    expect(list.value).toHaveLength(3);
    expect(list.value.some((s) => s.resource.includes(user))).toBe(false);
  });

  it("counts only active subscriptions: deleting one makes room", async () => {
    const { token } = await freshApp();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push(((await (await createWith("2", token)).json()) as { id: string }).id);
    await expectGraphError(await createWith("2", token), 403, "Forbidden");
    expect((await call(`/v1.0/subscriptions/${ids[0]}`, { method: "DELETE", token })).status).toBe(204);
    expect((await createWith("2", token)).status).toBe(201);
  });

  it("is per application and tenant: another app of the same tenant is not affected", async () => {
    const first = await freshApp();
    const second = await freshApp();
    expect((await createWith("1", first.token)).status).toBe(201);
    await expectGraphError(await createWith("1", first.token), 403, "Forbidden");
    expect((await createWith("1", second.token)).status).toBe(201);
  });

  it("holds under concurrent creates: the registry counts and inserts in one step", async () => {
    const { token } = await freshApp();
    const statuses = (await Promise.all(Array.from({ length: 6 }, () => createWith("2", token)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    expect(statuses.filter((s) => s === 403)).toHaveLength(4);
    const list = (await (await call(`/v1.0/subscriptions`, { token })).json()) as { value: unknown[] };
    expect(list.value).toHaveLength(2);
  });

  it("defaults to 1,000, and an unusable setting falls back to it", async () => {
    const { app, token } = await freshApp();
    const registry = env.SUBSCRIPTION_REGISTRY.getByName(`${TENANT}:${app}`);
    // 1,000 subscriptions straight into the registry: through the API that is 1,000 handshakes.
    const record = (i: number): SubscriptionRecord => ({
      id: crypto.randomUUID(),
      tenantId: TENANT,
      applicationId: app,
      creatorId: app,
      ownerUserId: null,
      resource: `/communications/presences/${i}`,
      canonicalResource: `/communications/presences/${i}`,
      userIds: [],
      changeType: "updated",
      notificationUrl: "http://receiver.test/hook",
      lifecycleNotificationUrl: null,
      clientState: null,
      expiresAt: Date.now() + 50 * 60_000,
      includeResourceData: false,
      encryptionCertificate: null,
      encryptionCertificateId: null,
      latestSupportedTlsVersion: "v1_2",
    });
    for (let i = 0; i < 999; i++) expect(await registry.create(record(i), 1000)).toHaveProperty("created");
    expect((await createWith(undefined, token)).status).toBe(201);
    await expectGraphError(await createWith(undefined, token), 403, "Forbidden", QUOTA_MESSAGE(1000));
    await expectGraphError(await createWith("none", token), 403, "Forbidden", QUOTA_MESSAGE(1000));
    await expectGraphError(await createWith("0", token), 403, "Forbidden", QUOTA_MESSAGE(1000));
  }, 60_000);
});
