import { runDurableObjectAlarm } from "cloudflare:test";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import {
  APP,
  appToken,
  call,
  expectGraphError,
  freezeClockAt,
  hubWatches,
  newUserId,
  relayRegistrations,
  userObject,
  userToken,
} from "../helpers";
import { openWatch, settleEvents, type TestSocket } from "../sockets";

afterEach(() => {
  vi.useRealTimers();
});
// Closed hubs unregister from their users in the background; let that finish
// before the test runtime is torn down.
afterAll(() => settleEvents(500));

async function setPresence(user: string, availability: string, activity: string, duration = "PT1H") {
  const response = await call(`/v1.0/users/${user}/presence/setPresence`, {
    token: await appToken(),
    body: { sessionId: APP, availability, activity, expirationDuration: duration },
  });
  expect(response.status).toBe(200);
}

const presenceOf = (m: Record<string, unknown>) =>
  m.presence as Record<string, unknown> & { id: string; sequenceNumber: string };

async function mustOpen(path: string, token: string, protocols?: string[]): Promise<TestSocket> {
  const { response, socket } = await openWatch(path, { token, protocols });
  if (!socket) throw new Error(`no socket: ${response.status} ${await response.text()}`);
  return socket;
}

describe("watching one user", () => {
  it("sends the current presence on connect, under every path and version", async () => {
    const user = newUserId();
    await setPresence(user, "Busy", "InACall");
    const t = await userToken(user);
    for (const path of [
      `/v1.0/me/presence/watch`,
      `/beta/users/${user}/presence/watch`,
      `/v1.0/communications/presences/${user}/watch`,
    ]) {
      const socket = await mustOpen(path, t);
      const first = await socket.next();
      expect(first.type).toBe("presence");
      expect(presenceOf(first)).toMatchObject({ id: user, availability: "Busy", activity: "InACall" });
      socket.close();
    }
  });

  it("sends a change made over HTTP to two watchers, each as they may see it", async () => {
    const user = newUserId();
    const owner = await mustOpen(`/v1.0/me/presence/watch`, await userToken(user));
    const colleague = await mustOpen(
      `/v1.0/users/${user}/presence/watch`,
      await userToken(newUserId(), "Presence.Read.All"),
    );
    const snapshot = presenceOf(await owner.next());
    await colleague.next();
    await call(`/v1.0/me/presence/setStatusMessage`, {
      token: await userToken(user),
      body: { statusMessage: { message: { content: "On a train" } } },
    });
    const ownView = presenceOf(await owner.next());
    const theirView = presenceOf(await colleague.next());
    expect(ownView.sequenceNumber > snapshot.sequenceNumber).toBe(true);
    expect(ownView.statusMessage).toHaveProperty("publishedDateTime");
    expect(theirView.statusMessage).toEqual({ message: { content: "On a train", contentType: "text" } });
    expect(theirView.sequenceNumber).toBe(ownView.sequenceNumber);
    owner.close();
    colleague.close();
  });

  it("sends an alarm-driven fade to a watcher, with no request", async () => {
    const t0 = Date.UTC(2031, 0, 1, 9, 0);
    freezeClockAt(t0);
    const user = newUserId();
    await setPresence(user, "Available", "Available");
    const socket = await mustOpen(`/v1.0/users/${user}/presence/watch`, await appToken(["Presence.Read.All"]));
    expect(presenceOf(await socket.next())).toMatchObject({ availability: "Available" });
    freezeClockAt(t0 + 5 * 60_000);
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    expect(presenceOf(await socket.next())).toMatchObject({ availability: "AvailableIdle", activity: "Inactive" });
    socket.close();
  });

  it("skips the snapshot on resume when nothing changed since the given sequenceNumber", async () => {
    const user = newUserId();
    await setPresence(user, "Away", "Away");
    const t = await userToken(user);
    const first = await mustOpen(`/v1.0/me/presence/watch`, t);
    const seen = presenceOf(await first.next()).sequenceNumber;
    first.close();
    const resumed = await mustOpen(`/v1.0/me/presence/watch?since=${seen}`, t);
    await setPresence(user, "Busy", "InACall");
    // The first message is the change, not a repeat of what the client had.
    expect(presenceOf(await resumed.next())).toMatchObject({ availability: "Busy" });
    resumed.close();
    const stale = await mustOpen(`/v1.0/me/presence/watch?since=${seen}`, t);
    expect(presenceOf(await stale.next())).toMatchObject({ availability: "Busy" });
    stale.close();
  });

  it("accepts the token as a subprotocol and answers presence.v1 only", async () => {
    const user = newUserId();
    const { response, socket } = await openWatch(`/v1.0/me/presence/watch`, {
      protocols: ["presence.v1", `bearer.${await userToken(user)}`],
    });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe("presence.v1");
    expect((await socket?.next())?.type).toBe("presence");
    socket?.close();
  });

  it("answers a message on a single-user socket with an error and stays open", async () => {
    const user = newUserId();
    const socket = await mustOpen(`/v1.0/me/presence/watch`, await userToken(user));
    await socket.next();
    socket.send({ type: "subscribe", ids: [user] });
    expect(await socket.next()).toMatchObject({ type: "error" });
    await setPresence(user, "Away", "Away");
    expect(presenceOf(await socket.next())).toMatchObject({ availability: "Away" });
    socket.close();
  });

  it("forgets a closed socket: the next change is not sent to it and breaks nothing", async () => {
    const user = newUserId();
    const closing = await mustOpen(`/v1.0/me/presence/watch`, await userToken(user));
    const staying = await mustOpen(`/v1.0/me/presence/watch`, await userToken(user));
    await closing.next();
    await staying.next();
    closing.close();
    const rowsOf = async () => (await hubWatches()).filter((row) => row.userId === user);
    for (let i = 0; i < 50 && (await rowsOf()).length > 1; i++) await settleEvents();
    expect(await rowsOf()).toHaveLength(1);
    await setPresence(user, "Busy", "InACall");
    expect(presenceOf(await staying.next())).toMatchObject({ availability: "Busy" });
    expect(closing.drain()).toEqual([]);
    staying.close();
  });
});

describe("refused upgrades are HTTP errors with the Graph envelope", () => {
  it.each([
    ["no token", async (_u: string) => ({}), 401, "InvalidAuthenticationToken"],
    ["a bad token", async (_u: string) => ({ token: "nope" }), 401, "InvalidAuthenticationToken"],
    [
      "another user without Presence.Read.All",
      async (_u: string) => ({ token: await userToken(newUserId(), "Presence.Read") }),
      403,
      "Forbidden",
    ],
    [
      "an application on /me",
      async (_u: string) => ({ token: await appToken(["Presence.Read.All"]) }),
      400,
      "BadRequest",
    ],
    [
      "a bearer subprotocol without presence.v1",
      async (u: string) => ({ protocols: [`bearer.${await userToken(u)}`] }),
      400,
      "BadRequest",
    ],
  ])("%s", async (name, options, status, code) => {
    const user = newUserId();
    const path = name.includes("/me") ? `/v1.0/me/presence/watch` : `/v1.0/users/${user}/presence/watch`;
    const { response, socket } = await openWatch(path, await options(user));
    expect(socket).toBeUndefined();
    await expectGraphError(response, status, code);
  });

  it("a plain GET without Upgrade is 426", async () => {
    const user = newUserId();
    await expectGraphError(
      await call(`/v1.0/me/presence/watch`, { token: await userToken(user) }),
      426,
      "UpgradeRequired",
    );
  });

  it("never takes a token from the URL", async () => {
    const user = newUserId();
    const { response } = await openWatch(`/v1.0/me/presence/watch?access_token=${await userToken(user)}`);
    await expectGraphError(response, 401, "InvalidAuthenticationToken");
  });
});

describe("watching many users on one socket", () => {
  const reader = () => appToken(["Presence.Read.All"]);

  it("subscribes, sends snapshots then every change, and unsubscribes", async () => {
    const [a, b] = [newUserId(), newUserId()];
    await setPresence(a, "Busy", "InACall");
    const socket = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    socket.send({ type: "subscribe", ids: [a, b.toUpperCase()] });
    const snapshots = [presenceOf(await socket.nextOf("presence")), presenceOf(await socket.nextOf("presence"))];
    expect(snapshots.map((p) => p.id).sort()).toEqual([a, b].sort());
    expect(snapshots.find((p) => p.id === a)).toMatchObject({ availability: "Busy" });
    expect(await socket.nextOf("subscribed")).toEqual({ type: "subscribed", ids: [a, b] });

    await setPresence(b, "Away", "Away");
    expect(presenceOf(await socket.nextOf("presence"))).toMatchObject({ id: b, availability: "Away" });

    socket.send({ type: "unsubscribe", ids: [b] });
    expect(await socket.nextOf("unsubscribed")).toEqual({ type: "unsubscribed", ids: [b] });
    await setPresence(b, "Busy", "InACall");
    await setPresence(a, "Away", "Away");
    // Only a's change arrives: b is no longer watched.
    expect(presenceOf(await socket.nextOf("presence"))).toMatchObject({ id: a, availability: "Away" });
    expect((await relayRegistrations(b)).hubs).toEqual([]);
    socket.close();
  });

  it("a change reaches two multi-user watchers", async () => {
    const user = newUserId();
    const sockets = [
      await mustOpen(`/v1.0/communications/presences/watch`, await reader()),
      await mustOpen(`/beta/communications/presences/watch`, await reader()),
    ];
    for (const s of sockets) {
      s.send({ type: "subscribe", ids: [user] });
      await s.nextOf("subscribed");
    }
    await setPresence(user, "DoNotDisturb", "Presenting");
    for (const s of sockets) {
      expect(presenceOf(await s.nextOf("presence"))).toMatchObject({ id: user, availability: "DoNotDisturb" });
      s.close();
    }
  });

  it("on resume sends only the users that changed since the given sequenceNumbers", async () => {
    const [same, changed] = [newUserId(), newUserId()];
    await setPresence(same, "Busy", "InACall");
    await setPresence(changed, "Busy", "InACall");
    const first = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    first.send({ type: "subscribe", ids: [same, changed] });
    const seen: Record<string, string> = {};
    for (let i = 0; i < 2; i++) {
      const p = presenceOf(await first.nextOf("presence"));
      seen[p.id] = p.sequenceNumber;
    }
    first.close();
    await setPresence(changed, "Away", "Away");
    const again = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    again.send({ type: "subscribe", ids: [same, changed], since: seen });
    const update = presenceOf(await again.nextOf("presence"));
    expect(update).toMatchObject({ id: changed, availability: "Away" });
    await again.nextOf("subscribed");
    expect(again.drain().filter((m) => m.type === "presence")).toEqual([]);
    again.close();
  });

  it("says when each presence last changed: on snapshots and changes, null for a user nobody wrote", async () => {
    const t0 = Date.UTC(2031, 2, 3, 9, 0);
    freezeClockAt(t0);
    const [written, nobody] = [newUserId(), newUserId()];
    await setPresence(written, "Busy", "InACall");
    freezeClockAt(t0 + 60_000);
    // A read that changes nothing leaves the time alone.
    const socket = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    socket.send({ type: "subscribe", ids: [written, nobody] });
    const snapshots = new Map<string, unknown>();
    for (let i = 0; i < 2; i++) {
      const m = await socket.nextOf("presence");
      snapshots.set(presenceOf(m).id, m.changedDateTime);
    }
    expect(snapshots.get(written)).toBe(new Date(t0).toISOString());
    expect(snapshots.get(nobody)).toBeNull();
    await socket.nextOf("subscribed");
    freezeClockAt(t0 + 120_000);
    await setPresence(written, "Away", "Away");
    expect(await socket.nextOf("presence")).toMatchObject({
      presence: { id: written, availability: "Away" },
      changedDateTime: new Date(t0 + 120_000).toISOString(),
    });
    socket.close();
    const single = await mustOpen(`/v1.0/users/${written}/presence/watch`, await reader());
    expect((await single.next()).changedDateTime).toBe(new Date(t0 + 120_000).toISOString());
    single.close();
  });

  it("answers bad messages with an error and stays open", async () => {
    const user = newUserId();
    const socket = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    const bad: [unknown, RegExp][] = [
      ["not json", /not valid JSON/],
      [{ type: "dance" }, /Unknown message type/],
      [{ type: "subscribe", ids: ["bob"] }, /GUIDs/],
      [{ type: "subscribe", ids: [] }, /must not be empty/],
      [{ type: "subscribe", ids: [user], extra: 1 }, /Invalid message/],
      // D28: frames are untrusted text too.
      [`{"type":"subscribe","ids":["${user}"],"__proto__":{"ids":[]}}`, /key '__proto__'.*not allowed/],
      [`{"type":"subscribe","ids":["x\\ud800"]}`, /Unicode/],
      [JSON.stringify({ type: "subscribe", ids: [user], pad: "x".repeat(70_000) }), /at most 65536 bytes/],
      [{ type: "subscribe", ids: Array.from({ length: 651 }, () => crypto.randomUUID()) }, /at most 650/],
    ];
    for (const [message, expected] of bad) {
      socket.send(message);
      const answer = await socket.next();
      expect(answer.type).toBe("error");
      expect(String(answer.message)).toMatch(expected);
    }
    socket.send({ type: "subscribe", ids: [user] });
    expect(presenceOf(await socket.nextOf("presence")).id).toBe(user);
    socket.close();
  });

  it("refuses more than 650 users in total with an error message, not a close", async () => {
    const socket = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    const many = Array.from({ length: 600 }, () => crypto.randomUUID());
    socket.send({ type: "subscribe", ids: many });
    await socket.nextOf("subscribed", 60_000);
    socket.send({ type: "subscribe", ids: Array.from({ length: 60 }, () => crypto.randomUUID()) });
    expect(await socket.nextOf("error")).toMatchObject({
      message: expect.stringMatching(/at most 650 users; this would make 660/),
    });
    expect(socket.closed).toBe(false);
    socket.close();
  }, 120_000);

  it("refuses users the caller may not read, and subscribes none of them", async () => {
    const me = newUserId();
    const other = newUserId();
    const socket = await mustOpen(`/v1.0/communications/presences/watch`, await userToken(me, "Presence.Read"));
    socket.send({ type: "subscribe", ids: [me, other] });
    expect(await socket.next()).toMatchObject({ type: "error", ids: [other] });
    socket.send({ type: "subscribe", ids: [me] });
    expect(presenceOf(await socket.nextOf("presence")).id).toBe(me);
    socket.close();
  });

  it("forgets a closed socket: every watched user stops notifying its hub", async () => {
    const users = [newUserId(), newUserId(), newUserId()];
    const socket = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
    socket.send({ type: "subscribe", ids: users });
    await socket.nextOf("subscribed");
    const watchers = async (u: string) => (await relayRegistrations(u)).hubs;
    expect(await watchers(users[0] as string)).toHaveLength(1);
    socket.close();
    for (let i = 0; i < 50 && (await watchers(users[2] as string)).length > 0; i++) await settleEvents();
    for (const u of users) expect(await watchers(u)).toEqual([]);
    await setPresence(users[0] as string, "Busy", "InACall");
  });
});
