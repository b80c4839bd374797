import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { GRANT_LEASE_MS } from "../../src/http/throttle";
import type { AppThrottle } from "../../src/objects/app-throttle";
import { appToken, call, freezeClockAt, hubWatches, newUserId, TENANT, token, userToken } from "../helpers";
import { openWatch, settleEvents, type TestSocket } from "../sockets";

// D27: a watch socket lives no longer than its token (unless reauthorized), and what a
// client sends on it counts against its application's budget.

afterEach(() => {
  vi.useRealTimers();
});
afterAll(() => settleEvents(500));

const MINUTE = 60_000;

async function mustOpen(path: string, bearer: string): Promise<TestSocket> {
  const { response, socket } = await openWatch(path, { token: bearer });
  if (!socket) throw new Error(`no socket: ${response.status} ${await response.text()}`);
  return socket;
}

/** The hub that holds the sockets watching `user`. */
async function hubOf(user: string) {
  const [row] = (await hubWatches()).filter((w) => w.userId === user);
  if (!row) throw new Error("no hub watches the user");
  return env.PRESENCE_HUB.get(env.PRESENCE_HUB.idFromString(row.hub));
}

async function setStatus(user: string, content: string) {
  const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
    token: await appToken(),
    body: { statusMessage: { message: { content } } },
  });
  expect(response.status).toBe(200);
}

describe("a socket lives no longer than its token (D27)", () => {
  it.each([
    ["one user, the owner's view", "/v1.0/me/presence/watch", "owner"],
    ["one user, another's view", "/v1.0/users/{user}/presence/watch", "reader"],
    ["many users", "/v1.0/communications/presences/watch", "reader"],
  ])("%s: closed with tokenExpired and 1008 at exp plus the skew", async (_name, path, who) => {
    const t0 = Date.UTC(2031, 3, 1, 9, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const bearer =
      who === "owner"
        ? await userToken(user, "Presence.Read", { expiresIn: 120 })
        : await appToken(["Presence.Read.All"], { expiresIn: 120 });
    const socket = await mustOpen(path.replace("{user}", user), bearer);
    if (path.endsWith("/presences/watch")) {
      socket.send({ type: "subscribe", ids: [user] });
      await socket.nextOf("subscribed");
    } else {
      await socket.next();
    }
    const hub = await hubOf(user);
    // The hub's alarm is due at exp + 60 s.
    expect(await runInDurableObject(hub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 120_000 + MINUTE);
    freezeClockAt(t0 + 120_000 + MINUTE);
    expect(await runDurableObjectAlarm(hub)).toBe(true);
    expect(await socket.nextOf("error")).toMatchObject({ type: "error", code: "tokenExpired" });
    expect(await socket.whenClosed()).toBe(1008);
    // Nothing of it is left, and the user's next change goes nowhere.
    expect((await hubWatches()).filter((w) => w.userId === user)).toEqual([]);
  });

  it("refuses a frame sent after the token ran out, before the alarm ran: the socket cannot subscribe more", async () => {
    const t0 = Date.UTC(2031, 3, 2, 9, 0);
    freezeClockAt(t0);
    const [a, b] = [newUserId(), newUserId()];
    const socket = await mustOpen(
      "/v1.0/communications/presences/watch",
      await appToken(["Presence.Read.All"], { expiresIn: 120 }),
    );
    socket.send({ type: "subscribe", ids: [a] });
    await socket.nextOf("subscribed");
    freezeClockAt(t0 + 120_000 + MINUTE);
    socket.send({ type: "subscribe", ids: [b] });
    expect(await socket.nextOf("error")).toMatchObject({ code: "tokenExpired" });
    expect(await socket.whenClosed()).toBe(1008);
    expect((await hubWatches()).filter((w) => w.userId === b || w.userId === a)).toEqual([]);
  });

  it("lives on with a fresh token for the same principal, and keeps getting changes", async () => {
    const t0 = Date.UTC(2031, 3, 3, 9, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const socket = await mustOpen(
      `/v1.0/me/presence/watch`,
      await userToken(user, "Presence.Read", { expiresIn: 120 }),
    );
    await socket.next();
    socket.send({ type: "reauthorize", token: await userToken(user, "Presence.Read", { expiresIn: 3600 }) });
    expect(await socket.nextOf("reauthorized")).toEqual({
      type: "reauthorized",
      expirationDateTime: new Date(t0 + 3600_000).toISOString(),
    });
    const hub = await hubOf(user);
    expect(await runInDurableObject(hub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 3600_000 + MINUTE);
    freezeClockAt(t0 + 120_000 + MINUTE);
    await setStatus(user, "still here");
    expect((await socket.nextOf("presence")).presence).toMatchObject({
      statusMessage: { message: { content: "still here" } },
    });
    expect(socket.closed).toBe(false);
    socket.close();
  });

  it.each([
    ["another user's token", (_user: string) => userToken(newUserId(), "Presence.Read")],
    ["another application's token", (user: string) => userToken(user, "Presence.Read", { app: crypto.randomUUID() })],
    ["an invalid token", async (_user: string) => "not-a-token"],
    ["a token without the permission to read the watched user", (user: string) => userToken(user, "Presence.Read")],
  ])("refuses %s, and the socket stays as it was", async (name, fresh) => {
    const user = newUserId();
    const watched = name.includes("permission") ? newUserId() : user;
    const socket = await mustOpen(
      `/v1.0/communications/presences/watch`,
      await userToken(user, "Presence.Read Presence.Read.All", { expiresIn: 600 }),
    );
    socket.send({ type: "subscribe", ids: [watched] });
    await socket.nextOf("subscribed");
    socket.send({ type: "reauthorize", token: await fresh(user) });
    expect(await socket.nextOf("error")).toMatchObject({ code: "reauthorizeFailed" });
    const hub = await hubOf(watched);
    const alarm = await runInDurableObject(hub, (_i, state) => state.storage.getAlarm());
    expect(alarm).toBeLessThanOrEqual(Date.now() + 600_000 + MINUTE);
    socket.close();
  });
});

describe("frames count against the application's budget (D27, D20)", () => {
  /** Empties the application's buckets (`reads`, or both) far below zero, as a long flood would. */
  async function exhaust(app: string, buckets: ("reads" | "all")[]) {
    await runInDurableObject(env.APP_THROTTLE.getByName(`${TENANT}:${app}`), (instance: AppThrottle) => {
      const state: Record<string, { tokens: number; updatedAt: number }> = {};
      for (const bucket of buckets) state[bucket] = { tokens: -100_000, updatedAt: Date.now() };
      (instance as unknown as { state: unknown }).state = state;
    });
    // Admissions this isolate was granted ahead lapse after their lease (http/throttle.ts).
    await settleEvents(GRANT_LEASE_MS + 100);
  }

  it("a subscribe counts as a read: over the read limit it is refused, an unsubscribe still passes", async () => {
    const app = crypto.randomUUID();
    const user = newUserId();
    const socket = await mustOpen(
      `/v1.0/communications/presences/watch`,
      await appToken(["Presence.Read.All"], { app }),
    );
    socket.send({ type: "subscribe", ids: [user] });
    await socket.nextOf("subscribed");
    await exhaust(app, ["reads"]);
    socket.send({ type: "subscribe", ids: [newUserId()] });
    const refused = await socket.nextOf("error");
    expect(refused).toMatchObject({ code: "throttled" });
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    socket.send({ type: "unsubscribe", ids: [user] });
    expect(await socket.nextOf("unsubscribed")).toEqual({ type: "unsubscribed", ids: [user] });
    socket.close();
  });

  it("any frame is refused once the application has no requests left", async () => {
    const app = crypto.randomUUID();
    const user = newUserId();
    const socket = await mustOpen(`/v1.0/users/${user}/presence/watch`, await appToken(["Presence.Read.All"], { app }));
    await socket.next();
    await exhaust(app, ["reads", "all"]);
    socket.send("not json");
    expect(await socket.next()).toMatchObject({ type: "error", code: "throttled" });
    socket.close();
  });

  it("closes a socket that sends more than 100 invalid frames in a minute, with 1008", async () => {
    const user = newUserId();
    const socket = await mustOpen(
      `/v1.0/users/${user}/presence/watch`,
      await token({ roles: ["Presence.Read.All"], app: crypto.randomUUID() }),
    );
    await socket.next();
    for (let i = 0; i < 101; i++) socket.send({ type: "subscribe", ids: [user] });
    const answers: Record<string, unknown>[] = [];
    for (let i = 0; i < 101; i++) answers.push(await socket.next());
    expect(answers.slice(0, 100).every((m) => m.code === "invalidMessage")).toBe(true);
    expect(answers[100]).toMatchObject({ code: "tooManyInvalidMessages" });
    expect(await socket.whenClosed()).toBe(1008);
  });
});
