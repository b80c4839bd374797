import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RELAY_SHARDS, shardOf } from "../../src/domain/fanout";
import type { PresenceHub } from "../../src/objects/presence-hub";
import { UserPresence } from "../../src/objects/user-presence";
import {
  appToken,
  breakRelays,
  call,
  callWith,
  eventually,
  gate,
  hubWatches,
  interceptRelays,
  newUserId,
  relayRegistrations,
  subscribe,
  subscribeMany,
  TENANT,
  tablesOf,
  userObject,
} from "../helpers";
import { openWatch, settleEvents, TestSocket } from "../sockets";
import { WebhookReceiver } from "../webhooks";

// The fan-out tree (DESIGN.md, "Fan-out"): a change leaves the user's object as one record,
// relays pass it to hubs and the webhook queue, and every watcher sees each user's versions in
// order, once, across churn and failures.

let receiver: WebhookReceiver;
beforeEach(() => {
  receiver = new WebhookReceiver().install();
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => settleEvents(500));

const reader = () => appToken(["Presence.Read.All"]);
const presenceOf = (m: Record<string, unknown>) =>
  m.presence as Record<string, unknown> & { id: string; sequenceNumber: string };

async function setStatus(user: string, content: string) {
  const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
    token: await appToken(),
    body: { statusMessage: { message: { content } } },
  });
  expect(response.status).toBe(200);
}

/** A single-user socket opened through the Worker with some bindings replaced. */
async function openWatchWith(bindings: Record<string, string>, user: string) {
  const response = await callWith(bindings, `/v1.0/users/${user}/presence/watch`, {
    token: await reader(),
    headers: { upgrade: "websocket" },
  });
  if (response.status !== 101 || !response.webSocket) return { response, socket: undefined };
  response.webSocket.accept();
  return { response, socket: new TestSocket(response.webSocket) };
}

async function mustOpen(path: string, token: string): Promise<TestSocket> {
  const { response, socket } = await openWatch(path, { token });
  if (!socket) throw new Error(`no socket: ${response.status} ${await response.text()}`);
  return socket;
}

async function watchMany(ids: string[]): Promise<TestSocket> {
  const socket = await mustOpen(`/v1.0/communications/presences/watch`, await reader());
  socket.send({ type: "subscribe", ids });
  await socket.nextOf("subscribed", 30_000);
  return socket;
}

/** Every presence message a socket has, by user, in the order they came. */
function versionsByUser(messages: Record<string, unknown>[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const m of messages) {
    if (m.type !== "presence") continue;
    const p = presenceOf(m);
    found.set(p.id, [...(found.get(p.id) ?? []), p.sequenceNumber]);
  }
  return found;
}

const increasing = (seqs: string[]) => seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as string));

async function currentSequence(user: string): Promise<string> {
  const response = await call(`/v1.0/users/${user}/presence`, { token: await reader() });
  return ((await response.json()) as { sequenceNumber: string }).sequenceNumber;
}

const pendingChanges = (user: string) =>
  runInDurableObject(userObject(user), (_i, state) =>
    state.storage.sql.exec<{ sequence: string }>("SELECT sequence FROM changes ORDER BY sequence").toArray(),
  );

describe("a change leaves the user's object as one record", () => {
  it("whatever the number of subscriptions, and nothing is lost while the relays are down", async () => {
    const user = newUserId();
    const SUBSCRIPTIONS = 60;
    await subscribeMany(user, SUBSCRIPTIONS, await reader(), "hook");
    expect((await relayRegistrations(user)).subscriptions).toHaveLength(SUBSCRIPTIONS);

    const broken = breakRelays(user);
    vi.spyOn(console, "error").mockImplementation(() => {});
    await setStatus(user, "written while the relays are down");
    await eventually(async () => (await pendingChanges(user)).length === 1);
    await settleEvents(200);
    // One row for the change, not one per subscription, and it stays until a relay has it.
    expect(await pendingChanges(user)).toEqual([{ sequence: await currentSequence(user) }]);
    expect(receiver.received).toEqual([]);

    broken.mockRestore();
    // The retry the alarm makes (armed 10 s ahead after a failed hand-over), run now.
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    await eventually(async () => receiver.items().length >= SUBSCRIPTIONS);
    const urls = new Set(receiver.received.map((r) => r.url.pathname));
    expect(urls.size).toBe(SUBSCRIPTIONS);
    expect(await pendingChanges(user)).toEqual([]);
  }, 120_000);

  it("writes no record at all for a user nobody watches or subscribes to", async () => {
    const user = newUserId();
    await setStatus(user, "nobody is listening");
    expect(await pendingChanges(user)).toEqual([]);
    expect((await relayRegistrations(user)).hubs).toEqual([]);
  });
});

describe("the hand-over to the relays", () => {
  it("goes on after an alarm that found nothing to send", async () => {
    const user = newUserId();
    const socket = await watchMany([user]);
    await setStatus(user, "first");
    expect(presenceOf(await socket.nextOf("presence")).statusMessage).toMatchObject({ message: { content: "first" } });
    await eventually(async () => (await pendingChanges(user)).length === 0);
    // An alarm runs with nothing left to send (set here by hand: the retry alarm armed with the
    // change went back to the next deadline, here none, once every relay had the change).
    await runInDurableObject(userObject(user), (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    await setStatus(user, "second");
    expect(presenceOf(await socket.nextOf("presence")).statusMessage).toMatchObject({ message: { content: "second" } });
    socket.close();
  });
});

/**
 * Opens a single-user socket on `user` and adds subscriptions until one is held by the relay
 * that holds the socket's hub (1 in 16 is). Returns the socket and how many subscriptions.
 */
async function socketAndSubscriptionsOnOneRelay(user: string) {
  const socket = await mustOpen(`/v1.0/users/${user}/presence/watch`, await reader());
  await socket.next();
  const [hub] = (await relayRegistrations(user)).hubs;
  let subscriptions = 0;
  for (let shared = false; !shared; subscriptions++) {
    if (subscriptions === 200) throw new Error("no subscription landed on the hub's relay");
    const id = await subscribe(user, await reader(), `http://receiver.test/shared-relay/${subscriptions}`);
    shared = shardOf(id) === shardOf(hub as string);
  }
  return { socket, subscriptions };
}

describe("the write path", () => {
  it("answers the writer, and later writers, while the user's relays are still passing changes on", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    const socket = await mustOpen(`/v1.0/users/${user}/presence/watch`, await reader());
    await socket.next();
    // Every relay of the user takes its changes only once the test lets it.
    const { held, release } = gate();
    const holding = interceptRelays(user, () => held);
    // A write that waited for its fan-out would never answer while the relays are held.
    const answered = (write: Promise<void>) =>
      Promise.race([write.then(() => "answered"), settleEvents(10_000).then(() => "still waiting")]);
    expect(await answered(setStatus(user, "first"))).toBe("answered");
    await eventually(async () => holding.mock.calls.some((call) => call[1] === user));
    expect(await answered(setStatus(user, "second"))).toBe("answered");
    await settleEvents(200);
    expect(socket.drain()).toEqual([]);

    release();
    const first = presenceOf(await socket.next());
    const second = presenceOf(await socket.next());
    expect([first.statusMessage, second.statusMessage]).toMatchObject([
      { message: { content: "first" } },
      { message: { content: "second" } },
    ]);
    expect(second.sequenceNumber > first.sequenceNumber).toBe(true);
    expect(second.sequenceNumber).toBe(await currentSequence(user));
    await eventually(async () => (await pendingChanges(user)).length === 0);
    socket.close();
  });
});

describe("a relay with sockets and subscriptions", () => {
  it("passes a change to the sockets without waiting for the webhook queue", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    const { socket, subscriptions } = await socketAndSubscriptionsOnOneRelay(user);
    // The queue takes the jobs only once the test lets it.
    const { held, release } = gate();
    const sendBatch = env.NOTIFICATIONS.sendBatch.bind(env.NOTIFICATIONS);
    const slowQueue = vi.spyOn(env.NOTIFICATIONS, "sendBatch").mockImplementation(async (...args) => {
      await held;
      return sendBatch(...args);
    });
    await setStatus(user, "while the queue is slow");
    expect(presenceOf(await socket.next()).statusMessage).toMatchObject({
      message: { content: "while the queue is slow" },
    });
    expect(slowQueue).toHaveBeenCalled();
    expect(receiver.items()).toEqual([]);
    release();
    await eventually(async () => receiver.items().length === subscriptions);
    expect(await pendingChanges(user)).toEqual([]);
    socket.close();
  });

  it("gives the sockets a change the queue refused; the relay keeps its jobs and queues them later, once", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    const { socket, subscriptions } = await socketAndSubscriptionsOnOneRelay(user);
    const refusing = vi
      .spyOn(env.NOTIFICATIONS, "sendBatch")
      .mockRejectedValue(new Error("EXPECTED, caused by the test: queue down"));
    vi.spyOn(console, "error").mockImplementation(() => {});
    await setStatus(user, "while the queue is down");
    expect(presenceOf(await socket.next()).statusMessage).toMatchObject({
      message: { content: "while the queue is down" },
    });
    // The relays have the change: the user's object owes nothing; the jobs wait in the relays' outboxes.
    await eventually(async () => (await pendingChanges(user)).length === 0);
    expect(receiver.items()).toEqual([]);

    refusing.mockRestore();
    // The relays' alarms (due when the jobs' lease runs out), run now.
    for (let shard = 0; shard < RELAY_SHARDS; shard++) {
      const relay = env.FANOUT_RELAY.getByName(`${TENANT}:${user}:${shard}`);
      await runInDurableObject(relay, (_i, state) =>
        state.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").toArray().length > 0
          ? state.storage.sql.exec("UPDATE outbox SET due = 0")
          : undefined,
      );
      await runDurableObjectAlarm(relay);
    }
    await eventually(async () => receiver.items().length === subscriptions);
    await settleEvents(200);
    // The socket had the change already, and each subscription gets it once.
    expect(socket.drain()).toEqual([]);
    expect(receiver.items()).toHaveLength(subscriptions);
    socket.close();
  });
});

describe("a watch that cannot start", () => {
  it("closes a single-user socket with 1011 when its user cannot be watched, so the client reconnects", async () => {
    const user = newUserId();
    vi.spyOn(UserPresence.prototype, "watch").mockImplementation(() => {
      throw new Error("EXPECTED, caused by the test: user object unavailable");
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const socket = await mustOpen(`/v1.0/users/${user}/presence/watch`, await reader());
    expect(await socket.next()).toMatchObject({ type: "error", code: "unavailable", ids: [user] });
    expect(await socket.whenClosed()).toBe(1011);
  });
});

describe("ordering under the fan-out", () => {
  it("every watcher sees each user's versions in increasing order, once, up to the last", async () => {
    const [a, b] = [newUserId(), newUserId()];
    await setStatus(a, "a: start");
    await setStatus(b, "b: start");
    const many = await watchMany([a, b]);
    const single = await mustOpen(`/v1.0/users/${a}/presence/watch`, await reader());
    await single.next();
    // Concurrent writers: the object gives each visible change its own number, and the
    // relays and hubs must pass them on in that order.
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => setStatus(i % 2 === 0 ? a : b, `change ${i} of ${i % 2 === 0 ? "a" : "b"}`)),
    );
    const [lastA, lastB] = [await currentSequence(a), await currentSequence(b)];
    const seen = {
      many: [] as Record<string, unknown>[],
      single: [] as Record<string, unknown>[],
    };
    await eventually(async () => {
      seen.many.push(...many.drain());
      seen.single.push(...single.drain());
      const m = versionsByUser(seen.many);
      const s = versionsByUser(seen.single);
      return m.get(a)?.at(-1) === lastA && m.get(b)?.at(-1) === lastB && s.get(a)?.at(-1) === lastA;
    });
    for (const versions of [...versionsByUser(seen.many).values(), ...versionsByUser(seen.single).values()]) {
      expect(increasing(versions)).toBe(true);
    }
    // Every version of the 24 writes reached the watchers: 12 each, after the snapshots.
    expect(versionsByUser(seen.many).get(a)?.length).toBeGreaterThanOrEqual(12);
    expect(versionsByUser(seen.single).get(a)?.length).toBe(12);
    many.close();
    single.close();
  }, 60_000);

  it("a watcher that resumes with since gets what it missed, and nothing it had", async () => {
    const user = newUserId();
    await setStatus(user, "one");
    const first = await mustOpen(`/v1.0/users/${user}/presence/watch`, await reader());
    const had = presenceOf(await first.next()).sequenceNumber;
    first.close();
    await setStatus(user, "two");
    await setStatus(user, "three");
    const resumed = await mustOpen(`/v1.0/users/${user}/presence/watch?since=${Number(had)}`, await reader());
    const caughtUp = presenceOf(await resumed.next());
    expect(caughtUp.statusMessage).toMatchObject({ message: { content: "three" } });
    expect(caughtUp.sequenceNumber).toBe(await currentSequence(user));
    await setStatus(user, "four");
    expect(presenceOf(await resumed.next()).statusMessage).toMatchObject({ message: { content: "four" } });
    expect(resumed.drain()).toEqual([]);
    resumed.close();
  });
});

describe("registrations under churn", () => {
  it("lose no change to a live watcher and leave no rows for closed ones", async () => {
    const users = [newUserId(), newUserId(), newUserId()];
    for (const u of users) await setStatus(u, "start");
    const steady = await watchMany(users);
    steady.drain();
    const churn = async (round: number) => {
      const socket = await watchMany(users.slice(0, 1 + (round % users.length)));
      if (round % 2 === 0) {
        socket.send({ type: "unsubscribe", ids: [users[0]] });
        await socket.nextOf("unsubscribed");
      }
      socket.close();
    };
    const writes = async () => {
      for (let i = 0; i < 15; i++) await setStatus(users[i % users.length] as string, `write ${i}`);
    };
    await Promise.all([writes(), ...Array.from({ length: 12 }, (_, round) => churn(round))]);
    const last = await Promise.all(users.map(currentSequence));
    const received: Record<string, unknown>[] = [];
    await eventually(async () => {
      received.push(...steady.drain());
      const byUser = versionsByUser(received);
      return users.every((u, i) => byUser.get(u)?.at(-1) === last[i]);
    });
    const byUser = versionsByUser(received);
    // 15 writes over 3 users: each of the steady watcher's users changed 5 times, and it saw each change.
    for (const u of users) {
      expect(byUser.get(u)).toHaveLength(5);
      expect(increasing(byUser.get(u) ?? [])).toBe(true);
    }
    steady.close();
    // Nothing is left of any socket: not in hubs, not in the users' relays.
    await eventually(async () => (await hubWatches()).filter((w) => users.includes(w.userId)).length === 0);
    for (const u of users) await eventually(async () => (await relayRegistrations(u)).hubs.length === 0);
  }, 120_000);
});

describe("the tenant's hubs", () => {
  it("fill a group, then spill to the next, and every socket still gets every change", async () => {
    const user = newUserId();
    const sockets: TestSocket[] = [];
    // The tests' hubs hold 3 sockets each, and groups here are 2 hubs: 14 sockets fill 3 groups.
    for (let i = 0; i < 14; i++) {
      const { response, socket } = await openWatchWith({ WATCH_HUBS_PER_REGION: "2" }, user);
      expect(response.status).toBe(101);
      sockets.push(socket as TestSocket);
      await socket?.next();
    }
    const hubs = new Set((await hubWatches()).filter((w) => w.userId === user).map((w) => w.hub));
    expect(hubs.size).toBeGreaterThanOrEqual(5);
    await setStatus(user, "to every hub");
    for (const socket of sockets) {
      expect(presenceOf(await socket.nextOf("presence")).statusMessage).toMatchObject({
        message: { content: "to every hub" },
      });
      socket.close();
    }
  });
});

describe("D29: watching does not create users", () => {
  it("subscribing to 650 never-written users and letting go leaves no storage anywhere", async () => {
    const ids = Array.from({ length: 650 }, () => newUserId());
    const socket = await watchMany(ids);
    socket.send({ type: "unsubscribe", ids });
    await socket.nextOf("unsubscribed", 60_000);
    for (const id of ids.slice(0, 40)) {
      await eventually(async () => (await tablesOf(userObject(id))).length === 0);
      expect((await relayRegistrations(id)).hubs).toEqual([]);
    }
    socket.close();
  }, 180_000);

  it("a user that was written keeps its state (and its sequenceNumber) when the last watcher goes", async () => {
    const user = newUserId();
    await setStatus(user, "remember me");
    const seq = await currentSequence(user);
    const socket = await watchMany([user]);
    socket.close();
    await eventually(async () => (await relayRegistrations(user)).hubs.length === 0);
    expect(await currentSequence(user)).toBe(seq);
    expect(await tablesOf(userObject(user))).not.toEqual([]);
  });
});

describe("a hub that lost its sockets without a close (a crash)", () => {
  /**
   * Opens a socket watching `user`, then makes its hub's rows outlive it, as after a restart
   * (the runtime drops every socket and no close event runs): the rows now name a socket that
   * does not exist.
   */
  async function orphanedWatch(user: string) {
    const socket = await watchMany([user]);
    const [row] = (await hubWatches()).filter((w) => w.userId === user);
    if (!row) throw new Error("no hub watches the user");
    const hub = env.PRESENCE_HUB.get(env.PRESENCE_HUB.idFromString(row.hub));
    await runInDurableObject(hub, (instance: PresenceHub, state) => {
      state.storage.sql.exec("UPDATE watches SET socket_id = 'lost' WHERE socket_id = ?", row.socketId);
      state.storage.sql.exec("UPDATE sockets SET id = 'lost' WHERE id = ?", row.socketId);
      // And what a restarted hub would have in memory: only what it reads from storage.
      const memory = instance as unknown as {
        watches: { forget(): void };
        sockets: unknown;
        latest: Map<string, unknown>;
      };
      memory.watches.forget();
      memory.sockets = null;
      memory.latest.clear();
    });
    expect((await relayRegistrations(user)).hubs).toHaveLength(1);
    return { socket, hub };
  }

  it("is cleaned up at the user's next change: the rows and the user's registration go", async () => {
    const user = newUserId();
    const { socket } = await orphanedWatch(user);
    await setStatus(user, "anyone there?");
    await eventually(async () => (await relayRegistrations(user)).hubs.length === 0);
    expect((await hubWatches()).filter((w) => w.userId === user)).toEqual([]);
    socket.close();
  });

  it("is cleaned up by the hub's alarm when the user never changes", async () => {
    const user = newUserId();
    const { socket, hub } = await orphanedWatch(user);
    expect(await runDurableObjectAlarm(hub)).toBe(true);
    await eventually(async () => (await relayRegistrations(user)).hubs.length === 0);
    expect((await hubWatches()).filter((w) => w.userId === user)).toEqual([]);
    socket.close();
  });
});
