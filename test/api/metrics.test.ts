import { createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import type { ChangeJob, NotificationJob } from "../../src/notifications/jobs";
import { METRICS_SCHEMA } from "../../src/observability/metrics";
import {
  APP,
  appToken,
  call,
  callWith,
  eventually,
  freezeClockAt,
  interceptRelays,
  newUserId,
  subscribe,
  TENANT,
  token,
  userToken,
} from "../helpers";
import { openWatch, settleEvents } from "../sockets";
import { WebhookReceiver } from "../webhooks";

// D31: one Analytics Engine point per request, change fan-out, webhook delivery and throttle
// refusal, in the shape of METRICS_SCHEMA (src/observability/metrics.ts, docs/operations.md).

/** The points written through `dataset` (a stand-in binding, or the real one's class, spied on). */
function pointsOf(spy: { mock: { calls: unknown[][] } }): AnalyticsEngineDataPoint[] {
  return spy.mock.calls.map(([point]) => point as AnalyticsEngineDataPoint);
}

/** A stand-in dataset for `callWith`: it keeps what it is given. */
function fakeDataset() {
  const writeDataPoint = vi.fn<(point?: AnalyticsEngineDataPoint) => void>();
  return { dataset: { writeDataPoint } as AnalyticsEngineDataset, points: () => pointsOf(writeDataPoint) };
}

/**
 * Spies on the binding wrangler.toml configures, in every object of this isolate (Durable Objects
 * get their own `env`, with their own instance of the binding's class).
 */
function spyOnBinding() {
  const binding = env.METRICS as AnalyticsEngineDataset;
  return vi.spyOn(Object.getPrototypeOf(binding) as AnalyticsEngineDataset, "writeDataPoint");
}

const ofEvent = (points: AnalyticsEngineDataPoint[], event: string) => points.filter((p) => p.blobs?.[0] === event);

let receiver: WebhookReceiver;
beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});
afterAll(() => settleEvents(300));

describe("request metrics", () => {
  it("writes one point per request: tenant as the index; route pattern, method, status and duration", async () => {
    const { dataset, points } = fakeDataset();
    const user = newUserId();
    const response = await callWith({ METRICS: dataset }, `/v1.0/users/${user}/presence`, {
      token: await userToken(user),
    });
    expect(response.status).toBe(200);
    expect(points()).toEqual([
      {
        indexes: [TENANT],
        blobs: ["request", TENANT, APP, "/v1.0/users/:id/presence", "GET", ""],
        doubles: [expect.any(Number), 200],
      },
    ]);
    expect(points()[0]?.doubles?.[0]).toBeGreaterThanOrEqual(0);
    expect(points()[0]?.doubles).toHaveLength(METRICS_SCHEMA.doubles.request.length);
  });

  it("counts refusals too, and a request answered before routing without its path", async () => {
    const { dataset, points } = fakeDataset();
    const stranger = newUserId();
    await callWith({ METRICS: dataset }, "/v1.0/me/presence");
    await callWith({ METRICS: dataset }, `/v1.0/users/${stranger}/nowhere?secret=1`);
    expect(points().map((p) => ({ index: p.indexes?.[0], blobs: p.blobs, status: p.doubles?.[1] }))).toEqual([
      { index: "none", blobs: ["request", "", "", "/v1.0/me/presence", "GET", ""], status: 401 },
      { index: "none", blobs: ["request", "", "", "(unrouted)", "GET", ""], status: 404 },
    ]);
  });

  it("never holds a token, a body, a status message's text or a user id", async () => {
    const { dataset, points } = fakeDataset();
    const user = newUserId();
    const secretText = `lunch with the board ${crypto.randomUUID()}`;
    const writer = await appToken();
    const response = await callWith({ METRICS: dataset }, `/v1.0/users/${user}/presence/setStatusMessage`, {
      token: writer,
      body: { statusMessage: { message: { content: secretText } } },
    });
    expect(response.status).toBe(200);
    await callWith({ METRICS: dataset }, `/v1.0/users/${user}/presence`, { token: await userToken(user) });
    expect(points()).toHaveLength(2);
    const written = JSON.stringify(points());
    for (const secret of [writer, secretText, "lunch", user]) expect(written).not.toContain(secret);
    expect(points()[0]?.blobs?.[3]).toBe("/v1.0/users/:id/presence/setStatusMessage");
  });

  it("counts each request of a JSON batch, and the batch", async () => {
    const { dataset, points } = fakeDataset();
    const user = newUserId();
    await callWith({ METRICS: dataset }, "/v1.0/$batch", {
      token: await userToken(user),
      body: {
        requests: [
          { id: "1", method: "GET", url: "/me/presence" },
          { id: "2", method: "GET", url: `/users/${user}/presence` },
        ],
      },
    });
    expect(points().map((p) => p.blobs?.[3])).toEqual(
      expect.arrayContaining(["/v1.0/$batch", "/v1.0/me/presence", "/v1.0/users/:id/presence"]),
    );
    expect(points()).toHaveLength(3);
  });

  it("a missing binding or one that fails changes nothing for the request", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const broken = {
      writeDataPoint: () => {
        throw new Error("dataset down (test)");
      },
    } as AnalyticsEngineDataset;
    const expected = await (await call(`/v1.0/users/${user}/presence`, { token: t })).json();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    for (const METRICS of [undefined, broken]) {
      const response = await callWith({ METRICS } as Partial<Env>, `/v1.0/users/${user}/presence`, { token: t });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual(expected);
    }
    expect(errors).toHaveBeenCalled();
    // A failing dataset is logged in the one error shape, not thrown.
    const lines = errors.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    expect(lines.every((line) => line.event === "metrics write" && line.object === "metrics")).toBe(true);
  });
});

describe("throttle metrics", () => {
  it("writes a point per refusal with the budget that refused: reads, then all", async () => {
    freezeClockAt(Date.now());
    const { dataset, points } = fakeDataset();
    const [tenant, app, user] = [crypto.randomUUID(), crypto.randomUUID(), newUserId()];
    const t = await token({ tenant, app, user, scopes: "Presence.Read.All Presence.ReadWrite" });
    const small = { METRICS: dataset, THROTTLE_READS_PER_30S: "2", THROTTLE_ALL_PER_30S: "4" };
    const read = () => callWith(small, "/v1.0/me/presence", { token: t });
    const write = () =>
      callWith(small, "/v1.0/me/presence/setPresence", {
        token: t,
        body: { sessionId: app, availability: "Busy", activity: "InACall" },
      });
    const statuses: number[] = [];
    for (const send of [read, read, read, write, write, write]) statuses.push((await send()).status);
    expect(statuses).toEqual([200, 200, 429, 200, 200, 429]);
    const refusals = ofEvent(points(), "throttle");
    expect(refusals).toEqual([
      {
        indexes: [tenant],
        blobs: ["throttle", tenant, app, "/v1.0/me/presence", "reads", ""],
        doubles: [15_000],
      },
      {
        indexes: [tenant],
        blobs: ["throttle", tenant, app, "/v1.0/me/presence/setPresence", "all", ""],
        doubles: [7_500],
      },
    ]);
    // The refused requests are counted as requests too, with their 429.
    expect(ofEvent(points(), "request").map((p) => p.doubles?.[1])).toEqual(statuses);
  });
});

describe("fan-out metrics", () => {
  it("writes a point per change handed to the relays: relays called, hubs reached, and the lag to the last hub", async () => {
    const user = newUserId();
    const { socket } = await openWatch(`/v1.0/users/${user}/presence/watch`, {
      token: await appToken(["Presence.Read.All"]),
    });
    if (!socket) throw new Error("no socket");
    await socket.nextOf("presence");
    const t0 = Date.now();
    freezeClockAt(t0);
    // The relays are handed the change 1234 ms (of the frozen clock) after it was made.
    interceptRelays(user, () => {
      vi.setSystemTime(t0 + 1234);
    });
    const writes = spyOnBinding();
    const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
      token: await appToken(),
      body: { statusMessage: { message: { content: "in a workshop" } } },
    });
    expect(response.status).toBe(200);
    await socket.nextOf("presence");
    await eventually(async () => ofEvent(pointsOf(writes), "fanout").length > 0);
    expect(ofEvent(pointsOf(writes), "fanout")).toEqual([
      { indexes: [TENANT], blobs: ["fanout", TENANT, "", "", "complete", ""], doubles: [1234, 1, 1, 1, 0] },
    ]);
    socket.close();
  });

  it("counts a batch a relay did not take as a retry", async () => {
    const user = newUserId();
    const { socket } = await openWatch(`/v1.0/users/${user}/presence/watch`, {
      token: await appToken(["Presence.Read.All"]),
    });
    if (!socket) throw new Error("no socket");
    await socket.nextOf("presence");
    interceptRelays(user, () => {
      throw new Error("relay down (test)");
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const writes = spyOnBinding();
    await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
      token: await appToken(),
      body: { statusMessage: { message: { content: "away" } } },
    });
    await eventually(async () => ofEvent(pointsOf(writes), "fanout").length > 0);
    const [point] = ofEvent(pointsOf(writes), "fanout");
    expect(point?.blobs).toEqual(["fanout", TENANT, "", "", "retry", ""]);
    expect(point?.doubles?.slice(1)).toEqual([1, 0, 1, 1]);
    socket.close();
  });
});

describe("webhook delivery metrics", () => {
  async function changeJob(notificationUrl: string): Promise<ChangeJob> {
    const user = newUserId();
    const id = await subscribe(user, await appToken(["Presence.Read.All"]), notificationUrl);
    return {
      kind: "change",
      tenantId: TENANT,
      userId: user,
      sequenceNumber: "00000000000000000001",
      views: {
        other: {
          availability: "Busy",
          activity: "InACall",
          statusMessage: null,
          outOfOfficeSettings: { message: null, isOutOfOffice: false },
          workLocation: { workLocationType: "unspecified", source: "none", placeId: null },
          sequenceNumber: "00000000000000000001",
        },
      },
      items: [{ subscriptionId: id, appId: APP, audience: "other" }],
      firstAttemptAt: Date.now(),
    };
  }

  async function consume(jobs: NotificationJob[], attempts: number) {
    const { dataset, points } = fakeDataset();
    const batch = createMessageBatch<NotificationJob>(
      "presence-notifications",
      jobs.map((body, i) => ({ id: `m${i}`, timestamp: Date.now(), attempts, body })),
    );
    await worker.queue(batch, { ...env, METRICS: dataset } as Env);
    return ofEvent(points(), "delivery");
  }

  it("writes a point per POST: status class, attempt, latency, and the receiver's host only", async () => {
    const url = "http://receiver.test/hooks/secret-path?key=secret-query";
    const jobs = [await changeJob(url), await changeJob(url)];
    const points = await consume(jobs, 1);
    expect(points).toEqual([
      {
        indexes: [TENANT],
        blobs: ["delivery", TENANT, APP, "change", "2xx", "receiver.test"],
        doubles: [expect.any(Number), 1, 2, 202],
      },
    ]);
    expect(JSON.stringify(points)).not.toContain("secret");
  });

  it("names the failure: a 5xx with its status, or a timeout without one, on the attempt it was", async () => {
    const job = await changeJob("http://receiver.test/hooks/failing");
    receiver.script.push("fail");
    const [failed] = await consume([job], 3);
    expect(failed?.blobs?.slice(4)).toEqual(["5xx", "receiver.test"]);
    expect(failed?.doubles?.slice(1)).toEqual([3, 1, 500]);
    // A first attempt has DELIVERY_TIMEOUT_MS (300 ms in the tests); retries would wait 10 s.
    receiver.script.push("slow");
    const [slow] = await consume([job], 1);
    expect(slow?.blobs?.slice(4)).toEqual(["timeout", "receiver.test"]);
    expect(slow?.doubles?.slice(1)).toEqual([1, 1, 0]);
    expect(slow?.doubles?.[0]).toBeGreaterThanOrEqual(300);
  });
});

describe("the binding", () => {
  it("is configured (wrangler.toml), so the points above reach Analytics Engine", () => {
    expect(typeof env.METRICS?.writeDataPoint).toBe("function");
  });
});
