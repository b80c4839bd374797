import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_READ_VIEW_IDLE_MS, DEFAULT_READ_VIEW_LEASE_MS, DEFAULT_READ_VIEW_SHARDS } from "../../src/config";
import { viewShardOf } from "../../src/domain/read-views";
import { ReadView } from "../../src/objects/read-view";
import { UserPresence } from "../../src/objects/user-presence";
import {
  appToken,
  breakRelays,
  call,
  eventually,
  freezeClockAt,
  gate,
  interceptRelays,
  newUserId,
  type PresenceResource,
  relayRegistrations,
  TENANT,
  tablesOf,
  userObject,
  userToken,
} from "../helpers";
import { settleEvents } from "../sockets";

// D30, reads near the reader: each guarantee the regional read views must keep, tried against
// views in several regions (the tests pick a reader's region with the x-test-region header).

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});
afterAll(() => settleEvents(300));

const LEASE = DEFAULT_READ_VIEW_LEASE_MS;
const t0 = Date.UTC(2031, 0, 6, 9, 0, 0);

const viewName = (user: string, region: string) => `${TENANT}:${region}:${viewShardOf(user, DEFAULT_READ_VIEW_SHARDS)}`;
const viewOf = (user: string, region: string) => env.READ_VIEW.getByName(viewName(user, region));

async function read(user: string, region: string, token?: string, query = ""): Promise<PresenceResource> {
  const response = await call(`/v1.0/users/${user}/presence${query}`, {
    token: token ?? (await appToken(["Presence.Read.All"])),
    headers: { "x-test-region": region },
  });
  if (response.status !== 200) throw new Error(`GET: ${response.status} ${await response.text()}`);
  return (await response.json()) as PresenceResource;
}

async function setStatus(user: string, content: string, region: string, expiry?: string) {
  const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
    token: await appToken(),
    headers: { "x-test-region": region },
    body: {
      statusMessage: {
        message: { content },
        ...(expiry ? { expiryDateTime: { dateTime: expiry, timeZone: "UTC" } } : {}),
      },
    },
  });
  expect(response.status).toBe(200);
}

const statusOf = (presence: PresenceResource) => presence.statusMessage?.message?.content ?? null;

/** The read views registered with the user's relays, over every shard, sorted. */
const relayViews = async (user: string) => (await relayRegistrations(user)).views.sort();

/** Waits until the user's relays hold exactly `views` (registration goes on after a view's first read). */
const relaysHold = (user: string, views: string[]) =>
  eventually(async () => JSON.stringify(await relayViews(user)) === JSON.stringify([...views].sort()));

describe("read views (D30)", () => {
  it("answer a region's reads once warm, and each region's view hears every change from the relays", async () => {
    const user = newUserId();
    await setStatus(user, "first", "eu");
    expect(statusOf(await read(user, "eu"))).toBe("first");
    expect(statusOf(await read(user, "na"))).toBe("first");
    await relaysHold(user, [viewName(user, "eu"), viewName(user, "na")]);

    const homeReads = [
      vi.spyOn(UserPresence.prototype, "getPresence"),
      vi.spyOn(UserPresence.prototype, "readForView"),
    ];
    await setStatus(user, "second", "as");
    // No region's read goes home: the relays delivered the change to both views.
    await eventually(async () => statusOf(await read(user, "na")) === "second");
    expect(statusOf(await read(user, "eu"))).toBe("second");
    for (const spy of homeReads) expect(spy).not.toHaveBeenCalled();
  });

  it("read-your-writes: the writer's next read in its region shows its write, while the relays hold it", async () => {
    const user = newUserId();
    await setStatus(user, "before", "eu");
    expect(statusOf(await read(user, "eu"))).toBe("before");
    expect(statusOf(await read(user, "na"))).toBe("before");
    const { held, release } = gate();
    interceptRelays(user, () => held);

    await setStatus(user, "after", "eu");
    expect(statusOf(await read(user, "eu"))).toBe("after");
    // Another region may lag within the staleness bound: its view has not heard yet.
    expect(statusOf(await read(user, "na"))).toBe("before");
    release();
    await eventually(async () => statusOf(await read(user, "na")) === "after");
  });

  /**
   * A user written `status` ("before") and held by the view in "eu", whose relays then hold every change
   * until `release`: what the view shows after a write is only what the writer's Worker handed it.
   * Failures the test causes are expected, so their log lines are muted.
   */
  async function heldInEuView(status = "before") {
    const user = newUserId();
    await setStatus(user, status, "eu");
    expect(statusOf(await read(user, "eu"))).toBe(status);
    await relaysHold(user, [viewName(user, "eu")]);
    const { held, release } = gate();
    interceptRelays(user, () => held);
    vi.spyOn(console, "error").mockImplementation(() => {});
    return { user, release };
  }

  it("read-your-writes when handing the write to the view fails once: the hand-over is tried again", async () => {
    const { user, release } = await heldInEuView();
    const accept = vi
      .spyOn(ReadView.prototype, "accept")
      .mockRejectedValueOnce(new Error("EXPECTED, caused by the test: view overloaded"));

    await setStatus(user, "after", "eu");
    const home = vi.spyOn(UserPresence.prototype, "readForView");
    expect(statusOf(await read(user, "eu"))).toBe("after");
    // The second try reached the view: it answers the writer from memory still.
    expect(accept).toHaveBeenCalledTimes(2);
    expect(home).not.toHaveBeenCalled();
    release();
  });

  it("read-your-writes when the view never takes the write: it lets the user go, and the writer's read goes home", async () => {
    const { user, release } = await heldInEuView();
    vi.spyOn(ReadView.prototype, "accept").mockRejectedValue(
      new Error("EXPECTED, caused by the test: view overloaded"),
    );

    // The write is done: the writer gets its answer (setStatus expects a 200).
    await setStatus(user, "after", "eu");
    expect(statusOf(await read(user, "eu"))).toBe("after");
    release();
  });

  /**
   * Starts a read in "eu" whose view asks the user's object, and holds the object's answer (taken
   * before the write that follows) until `answer` is called; resolves once the answer is taken.
   */
  async function readWithHeldAnswer(user: string) {
    const readForView = UserPresence.prototype.readForView;
    const { held, release } = gate();
    let holdNext = true;
    const asked = vi.spyOn(UserPresence.prototype, "readForView").mockImplementation(async function (
      this: UserPresence,
      view: string,
    ) {
      const snapshot = await readForView.call(this, view);
      if (holdNext) {
        holdNext = false;
        await held;
      }
      return snapshot;
    });
    const first = read(user, "eu");
    await eventually(async () => asked.mock.calls.length > 0);
    return {
      answer: async () => {
        release();
        return statusOf(await first);
      },
    };
  }

  /**
   * Written "before" from "na", the user's relays then hold every change; a read in "eu" asks the
   * user's object and its answer (taken before the write) is held past a write from "eu". Whatever
   * that first read shows, the writer's next read in "eu" must show the write.
   */
  async function writeWhileTheViewAsks() {
    const user = newUserId();
    await setStatus(user, "before", "na");
    const { held, release } = gate();
    interceptRelays(user, () => held);
    const first = await readWithHeldAnswer(user);
    await setStatus(user, "after", "eu");
    expect(["before", "after"]).toContain(await first.answer());
    expect(statusOf(await read(user, "eu"))).toBe("after");
    release();
  }

  it("read-your-writes while the view's ask of the user is under way: the older answer does not win", async () => {
    await writeWhileTheViewAsks();
  });

  it("read-your-writes when the view lets the user go while its ask is under way: the older answer is not kept", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(ReadView.prototype, "accept").mockRejectedValue(
      new Error("EXPECTED, caused by the test: view overloaded"),
    );
    await writeWhileTheViewAsks();
  });

  it("read-your-writes for a user's first write, which a view held as never written", async () => {
    const user = newUserId();
    expect((await read(user, "eu")).availability).toBe("Offline");
    expect(await tablesOf(userObject(user))).toEqual([]);
    await setStatus(user, "hello", "eu");
    expect(statusOf(await read(user, "eu"))).toBe("hello");
  });

  it("bounded staleness: past its lease without word from the relays, a view answers from the user's object", async () => {
    freezeClockAt(t0);
    const user = newUserId();
    await setStatus(user, "before", "eu");
    expect(statusOf(await read(user, "na"))).toBe("before");
    breakRelays(user);
    vi.spyOn(console, "error").mockImplementation(() => {});
    // Written from another region: nothing reaches the view in "na".
    await setStatus(user, "after", "eu");
    expect(statusOf(await read(user, "na"))).toBe("before");
    // Before half its lease a read does not even renew the view in the background.
    freezeClockAt(t0 + LEASE / 2 - 1);
    expect(statusOf(await read(user, "na"))).toBe("before");
    freezeClockAt(t0 + LEASE);
    expect(statusOf(await read(user, "na"))).toBe("after");
  });

  it("monotonic reads: a region never answers an older sequenceNumber than it did", async () => {
    const user = newUserId();
    await setStatus(user, "one", "eu");
    await setStatus(user, "two", "eu");
    const newest = await read(user, "eu");
    const { "@odata.context": _context, id: _id, ...view } = newest;
    const older = { ...view, sequenceNumber: (BigInt(newest.sequenceNumber) - 1n).toString().padStart(20, "0") };
    // A relay's late delivery of an older change (say, sent again after a failure).
    expect(
      await viewOf(user, "eu").deliver(user, [
        {
          sequenceNumber: older.sequenceNumber,
          changedAt: Date.now(),
          views: { owner: older, other: older },
          validUntil: null,
        },
      ]),
    ).toBe(true);
    const after = await read(user, "eu");
    expect(after.sequenceNumber).toBe(newest.sequenceNumber);
    expect(statusOf(after)).toBe("two");
  });

  it("monotonic reads after a fallback: what the user's object answered is handed to the view", async () => {
    freezeClockAt(t0);
    const { user, release } = await heldInEuView("one");
    // Written from another region: the view in "eu" hears of it only through the held relays.
    await setStatus(user, "two", "na");
    vi.spyOn(ReadView.prototype, "read").mockRejectedValueOnce(
      new Error("EXPECTED, caused by the test: view overloaded"),
    );
    const fallback = await read(user, "eu");
    expect(statusOf(fallback)).toBe("two");
    // The view is back, within its lease of "one", before the relays deliver "two".
    const after = await read(user, "eu");
    expect(after.sequenceNumber).toBe(fallback.sequenceNumber);
    expect(statusOf(after)).toBe("two");
    release();
  });

  it("shows an expiry on time, whether or not the view heard of it", async () => {
    freezeClockAt(t0);
    const user = newUserId();
    await setStatus(user, "brb", "eu", new Date(t0 + 2000).toISOString().slice(0, 19));
    const before = await read(user, "eu");
    expect(statusOf(before)).toBe("brb");
    // Within the view's lease, past the message's expiry; the user's alarm has not run.
    freezeClockAt(t0 + 2000);
    const after = await read(user, "eu");
    expect(after.statusMessage).toBeNull();
    expect(after.sequenceNumber > before.sequenceNumber).toBe(true);
  });

  it("a view that fails is never the reader's error: the read goes to the user's object", async () => {
    const user = newUserId();
    const other = newUserId();
    await setStatus(user, "home", "eu");
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(ReadView.prototype, "read").mockRejectedValue(new Error("EXPECTED, caused by the test: view overloaded"));
    expect(statusOf(await read(user, "eu"))).toBe("home");
    const response = await call(`/v1.0/communications/getPresencesByUserId`, {
      token: await appToken(["Presence.Read.All"]),
      headers: { "x-test-region": "eu" },
      body: { ids: [user, other] },
    });
    expect(response.status).toBe(200);
    const { value } = (await response.json()) as { value: PresenceResource[] };
    expect(value.map(statusOf)).toEqual(["home", null]);
  });

  it("keeps audiences and $select: the owner sees the expiry, others the message alone", async () => {
    const user = newUserId();
    await setStatus(user, "away", "eu", "2099-01-01T00:00:00");
    const own = await read(user, "eu", await userToken(user));
    expect(own.statusMessage?.expiryDateTime?.dateTime).toBe("2099-01-01T00:00:00.0000000");
    const others = await read(user, "eu");
    expect(others.statusMessage).toEqual({ message: { content: "away", contentType: "text" } });
    const selected = await read(user, "eu", undefined, "?$select=availability");
    expect(Object.keys(selected).sort()).toEqual(["@odata.context", "availability", "id"]);
  });

  it("lets go of users nobody read for a while: the relays stop sending, and nothing is left stored (D29)", async () => {
    // A region of its own: no other test's users share its views (and their clocks).
    const region = "let-go";
    freezeClockAt(t0);
    const user = newUserId();
    await setStatus(user, "x", region);
    await read(user, region);
    await relaysHold(user, [viewName(user, region)]);
    freezeClockAt(t0 + DEFAULT_READ_VIEW_IDLE_MS);
    expect(await runDurableObjectAlarm(viewOf(user, region))).toBe(true);
    expect(await relayViews(user)).toEqual([]);
    const remembered = await runInDurableObject(userObject(user), (_i, state) =>
      state.storage.sql.exec("SELECT * FROM read_views").toArray(),
    );
    expect(remembered).toEqual([]);
    expect(await runInDurableObject(viewOf(user, region), (_i, state) => state.storage.getAlarm())).toBeNull();
    // A later read registers the view again.
    expect(statusOf(await read(user, region))).toBe("x");
    await relaysHold(user, [viewName(user, region)]);
  });

  it("reading users nobody wrote creates nothing, in their objects or their relays (D3, D29)", async () => {
    const ids = [newUserId(), newUserId(), newUserId()];
    for (const region of ["eu", "na"]) {
      const response = await call(`/v1.0/communications/getPresencesByUserId`, {
        token: await appToken(["Presence.Read.All"]),
        headers: { "x-test-region": region },
        body: { ids },
      });
      expect(response.status).toBe(200);
    }
    for (const user of ids) {
      expect(await tablesOf(userObject(user))).toEqual([]);
      expect(await relayViews(user)).toEqual([]);
    }
  });
});
