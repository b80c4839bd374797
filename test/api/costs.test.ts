import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_READ_VIEW_SHARDS } from "../../src/config";
import { RELAY_SHARDS } from "../../src/domain/fanout";
import { viewShardOf } from "../../src/domain/read-views";
import { FanoutRelay } from "../../src/objects/fanout-relay";
import { PresenceHub } from "../../src/objects/presence-hub";
import { ReadView } from "../../src/objects/read-view";
import { UserPresence } from "../../src/objects/user-presence";
import {
  appToken,
  call,
  eventually,
  freezeClockAt,
  hubWatches,
  newUserId,
  relayRegistrations,
  subscribeMany,
  TENANT,
  userObject,
} from "../helpers";
import { openWatch, settleEvents, type TestSocket } from "../sockets";
import { WebhookReceiver } from "../webhooks";

// What a change costs, counted: the numbers the cost model of docs/scaling.md
// (scripts/scaling.mjs) is built on. If one of these moves, the model moves with it.

beforeEach(() => {
  // The subscriptions' handshakes and notifications are answered by a receiver in the test.
  new WebhookReceiver().install();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});
afterAll(() => settleEvents(500));

const reader = () => appToken(["Presence.Read.All"]);

async function setStatus(user: string, content: string) {
  const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
    token: await appToken(),
    body: { statusMessage: { message: { content } } },
  });
  expect(response.status).toBe(200);
}

/** Counts the SQLite rows the user's object writes from now on (every statement of its store and fan-out). */
async function countRowsWritten(user: string): Promise<() => number> {
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  await runInDurableObject(userObject(user), (_instance, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec.bind(sql);
    sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
      const cursor = exec(query, ...bindings);
      cursors.push(cursor);
      return cursor;
    }) as typeof sql.exec;
  });
  return () => cursors.reduce((sum, cursor) => sum + cursor.rowsWritten, 0);
}

async function watchers(user: string, count: number): Promise<TestSocket[]> {
  const sockets: TestSocket[] = [];
  for (let i = 0; i < count; i++) {
    const { socket } = await openWatch(`/v1.0/users/${user}/presence/watch`, { token: await reader() });
    if (!socket) throw new Error("no socket");
    await socket.next();
    sockets.push(socket);
  }
  return sockets;
}

const subscriptions = async (user: string, count: number) => subscribeMany(user, count, await reader(), "costs");

/** Waits (bounded) until every socket has a message of the change. */
async function everyoneHas(sockets: TestSocket[]) {
  for (const socket of sockets) await socket.nextOf("presence");
}

/** Makes one change to `user`: the relay and hub deliveries it caused, and how many hubs hold the user's watchers. */
async function countCalls(user: string, sockets: TestSocket[]) {
  const relayDeliveries = vi.spyOn(FanoutRelay.prototype, "deliver");
  const hubDeliveries = vi.spyOn(PresenceHub.prototype, "deliver");
  await setStatus(user, "counted");
  await everyoneHas(sockets);
  await settleEvents(100);
  const hubs = new Set((await hubWatches()).filter((w) => w.userId === user).map((w) => w.hub));
  return { hubs: hubs.size, relayCalls: relayDeliveries.mock.calls.length, hubCalls: hubDeliveries.mock.calls.length };
}

describe("what one visible change costs", () => {
  it("to one user's single-user watchers: they share the user's hub, so one relay call and one hub call", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    // A hub holds 3 sockets in the tests: 3 watchers fill the user's preferred hub.
    const sockets = await watchers(user, 3);
    expect(await countCalls(user, sockets)).toEqual({ hubs: 1, relayCalls: 1, hubCalls: 1 });
    for (const socket of sockets) socket.close();
  }, 60_000);

  it("in the user's object: the same rows written whatever the audience", async () => {
    const alone = newUserId();
    const watched = newUserId();
    const popular = newUserId();
    for (const user of [alone, watched, popular]) await setStatus(user, "before");
    const one = await watchers(watched, 1);
    // The tests' hubs hold 3 sockets each: 24 sockets are 8 hubs, with 20 subscriptions beside them.
    const many = await watchers(popular, 24);
    await subscriptions(popular, 20);

    const rows: Record<string, number> = {};
    for (const [name, user, sockets] of [
      ["alone", alone, []],
      ["watched", watched, one],
      ["popular", popular, many],
    ] as const) {
      const written = await countRowsWritten(user);
      await setStatus(user, `changed ${name}`);
      await everyoneHas([...sockets]);
      await settleEvents(100);
      rows[name] = written();
    }
    // SQLite counts a replaced row as two writes: the status message's row and the version's three
    // make 8. With an audience, the change's record adds 3 (written, then deleted once the relays
    // have it), the same for one watcher as for 24 sockets and 20 subscriptions.
    expect(rows).toEqual({ alone: 8, watched: 11, popular: 11 });
    for (const socket of [...one, ...many]) socket.close();
  }, 120_000);

  it("in statements, when the user's object starts again after an idle spell: one reads all it holds", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    // Watched, and held by a read view: the fan-out's rows a starting object needs too.
    const sockets = await watchers(user, 1);
    const read = await call(`/v1.0/users/${user}/presence`, { token: await reader() });
    expect(read.status).toBe(200);
    await settleEvents(100);

    const statements: string[] = [];
    const seen = await runInDurableObject(userObject(user), async (_instance, state) => {
      const sql = state.storage.sql;
      const exec = sql.exec;
      sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
        statements.push(query);
        return exec.call(sql, query, ...bindings);
      }) as typeof sql.exec;
      try {
        // A new instance on the same storage: the object as the runtime starts it again.
        const restarted = new UserPresence(state, env);
        await restarted.setStatusMessage({ content: "after", expiresAt: null });
        return await restarted.getPresence("owner");
      } finally {
        sql.exec = exec;
      }
    });
    expect(seen.statusMessage?.message?.content).toBe("after");
    // Everything stored, with the schema's version (one statement), then the write: the status
    // message and the version in one statement, and the change's record for the watcher.
    expect(statements).toHaveLength(3);
    expect(statements.filter((q) => q.trimStart().startsWith("SELECT"))).toHaveLength(1);
    for (const socket of sockets) socket.close();
  }, 60_000);

  it("in calls: the user's object calls at most one relay per shard, and each hub is called once", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    const sockets = await watchers(user, 30);
    await subscriptions(user, 30);
    const { hubs, relayCalls, hubCalls } = await countCalls(user, sockets);
    // 30 sockets in hubs of 3 are 10 hubs or more; 30 subscriptions spread over the shards as well.
    expect(hubs).toBeGreaterThanOrEqual(10);
    expect(relayCalls).toBeLessThanOrEqual(RELAY_SHARDS);
    expect(relayCalls).toBeGreaterThan(1);
    expect(hubCalls).toBe(hubs);
    for (const socket of sockets) socket.close();
  }, 120_000);
});

describe("what a read costs (D30)", () => {
  /** Counts the calls users' objects and read views answer from now on. */
  function countReadCalls() {
    const home = [vi.spyOn(UserPresence.prototype, "getPresence"), vi.spyOn(UserPresence.prototype, "readForView")];
    const views = vi.spyOn(ReadView.prototype, "read");
    return () => ({ home: home.reduce((sum, spy) => sum + spy.mock.calls.length, 0), views: views.mock.calls.length });
  }

  const getFrom = async (user: string, region: string) => {
    const response = await call(`/v1.0/users/${user}/presence`, {
      token: await reader(),
      headers: { "x-test-region": region },
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  };

  it("a warm GET makes no call to the user's object, in any region", async () => {
    const user = newUserId();
    await setStatus(user, "read me");
    for (const region of ["eu", "na"]) await getFrom(user, region);
    const calls = countReadCalls();
    for (const region of ["eu", "na"]) await getFrom(user, region);
    expect(calls()).toEqual({ home: 0, views: 2 });
  });

  it("a warm 650-id batch makes one call per view shard it touches, half its users never written", async () => {
    const ids = Array.from({ length: 650 }, () => newUserId());
    for (const user of ids.filter((_, i) => i % 2 === 0)) await setStatus(user, "batched");
    // The clock stands still, so no view's lease runs out between the two batches on a slow machine.
    freezeClockAt(Date.now());
    const batch = async () => {
      const response = await call(`/v1.0/communications/getPresencesByUserId`, {
        token: await reader(),
        headers: { "x-test-region": "eu" },
        body: { ids },
      });
      expect(response.status).toBe(200);
      const { value } = (await response.json()) as { value: { statusMessage: unknown }[] };
      expect(value.filter((p) => p.statusMessage !== null)).toHaveLength(325);
    };
    await batch();
    const calls = countReadCalls();
    await batch();
    const shards = new Set(ids.map((id) => viewShardOf(id, DEFAULT_READ_VIEW_SHARDS))).size;
    expect(calls()).toEqual({ home: 0, views: shards });
  }, 120_000);

  it("a change reaches each view holding the user once, and costs the writer no more relay calls", async () => {
    const user = newUserId();
    await setStatus(user, "before");
    const regions = ["eu", "na", "as"];
    for (const region of regions) await getFrom(user, region);
    // The views register with the relays after their first read is answered.
    await eventually(async () => (await relayRegistrations(user)).views.length === regions.length);
    const relayDeliveries = vi.spyOn(FanoutRelay.prototype, "deliver");
    const viewDeliveries = vi.spyOn(ReadView.prototype, "deliver");
    await setStatus(user, "counted");
    await eventually(async () => viewDeliveries.mock.calls.length >= regions.length);
    await settleEvents(100);
    const views = viewDeliveries.mock.contexts.map(
      (view) => (view as unknown as { ctx: DurableObjectState }).ctx.id.name,
    );
    expect(views.sort()).toEqual(
      regions.map((region) => `${TENANT}:${region}:${viewShardOf(user, DEFAULT_READ_VIEW_SHARDS)}`).sort(),
    );
    // One relay per shard that holds a view: the three views' shards, at most RELAY_SHARDS.
    expect(relayDeliveries.mock.calls.length).toBeLessThanOrEqual(Math.min(regions.length, RELAY_SHARDS));
  });
});
