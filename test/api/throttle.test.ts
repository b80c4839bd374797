import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_THROTTLE_LIMITS, readConfig } from "../../src/config";
import { THROTTLE_WINDOW_MS } from "../../src/domain/throttle";
import type { Env } from "../../src/env";
import { AppThrottle } from "../../src/objects/app-throttle";
import { type CallOptions, call, callWith, expectGraphError, freezeClockAt, newUserId, token } from "../helpers";

// Small limits through the bindings (never by changing the production defaults),
// and a frozen clock, so a burst is a burst whatever the machine's speed.
const SMALL: Partial<Env> = { THROTTLE_READS_PER_30S: "5", THROTTLE_ALL_PER_30S: "8" };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** An application of its own in a tenant of its own: throttles are per (tenant, app). */
function newApp(tenant = crypto.randomUUID(), app = crypto.randomUUID()) {
  const user = newUserId();
  const scopes = "Presence.Read.All Presence.ReadWrite MailboxSettings.Read";
  const send = async (path: string, options: CallOptions = {}) =>
    callWith(SMALL, path, { ...options, token: await token({ tenant, app, user, scopes }) });
  return {
    tenant,
    app,
    user,
    read: () => send("/v1.0/me/presence"),
    readSettings: () => send("/v1.0/me/mailboxSettings"),
    readMany: () => send("/v1.0/communications/getPresencesByUserId", { body: { ids: [user] } }),
    write: () =>
      send("/v1.0/me/presence/setPresence", { body: { sessionId: app, availability: "Busy", activity: "InACall" } }),
  };
}

async function statuses(requests: (() => Promise<Response>)[]): Promise<number[]> {
  const result: number[] = [];
  for (const request of requests) result.push((await request()).status);
  return result;
}
const times = <T>(n: number, value: T): T[] => Array.from({ length: n }, () => value);

describe("throttling per (tenant, app) (D20)", () => {
  it("holds the read limit in a burst, with 429, Retry-After and the Graph envelope", async () => {
    freezeClockAt(Date.now());
    const client = newApp();
    expect(await statuses([...times(3, client.read), ...times(2, client.readMany)])).toEqual(times(5, 200));
    const refused = await client.read();
    expect(refused.headers.get("retry-after")).toBe(String(THROTTLE_WINDOW_MS / 5 / 1000));
    await expectGraphError(refused, 429, "TooManyRequests");
    await expectGraphError(await client.readMany(), 429, "TooManyRequests");
  });

  it("gives an application one budget: its id in capitals shares it, with spaces is refused", async () => {
    freezeClockAt(Date.now());
    const client = newApp();
    expect(await statuses(times(5, client.read))).toEqual(times(5, 200));
    const as = (app: string) => () =>
      token({ tenant: client.tenant, app, user: client.user, scopes: "Presence.Read" }).then((t) =>
        callWith(SMALL, "/v1.0/me/presence", { token: t }),
      );
    expect((await as(client.app.toUpperCase())()).status).toBe(429);
    for (const spaced of [` ${client.app}`, `${client.app} `, `\t${client.app}`]) {
      await expectGraphError(await as(spaced)(), 401, "InvalidAuthenticationToken", /not a GUID/);
    }
  });

  it("holds the overall limit, reads included, and lets writes through while only reads are spent", async () => {
    freezeClockAt(Date.now());
    const client = newApp();
    expect(await statuses(times(6, client.read))).toEqual([...times(5, 200), 429]);
    // Reads spent 5 of the 8 overall; the refused read took nothing.
    expect(await statuses(times(4, client.write))).toEqual([200, 200, 200, 429]);
  });

  it("spends grants taken ahead without wasting any: a concurrent burst of exactly the limit all passes", async () => {
    freezeClockAt(Date.now());
    // Limits large enough that this Worker takes several admissions per call to the object.
    const LARGE: Partial<Env> = { THROTTLE_READS_PER_30S: "300", THROTTLE_ALL_PER_30S: "1000" };
    const tenant = crypto.randomUUID();
    const app = crypto.randomUUID();
    const user = newUserId();
    const t = await token({ tenant, app, user, scopes: "Presence.Read.All" });
    const read = () => callWith(LARGE, "/v1.0/me/presence", { token: t }).then((r) => r.status);
    const results: number[] = [];
    for (let wave = 0; wave < 6; wave++) results.push(...(await Promise.all(times(50, null).map(read))));
    expect(results.filter((s) => s === 200)).toHaveLength(300);
    expect(await read()).toBe(429);
  });

  it("costs an app reading steadily one call to its object per full grant, not one every few requests", async () => {
    const lease = vi.spyOn(AppThrottle.prototype, "lease");
    const t0 = Date.now();
    const tenant = crypto.randomUUID();
    const app = crypto.randomUUID();
    const t = await token({ tenant, app, user: newUserId(), scopes: "Presence.Read" });
    // 8 reads a second for 10 seconds, under D20's limits (grants of at most 15 reads).
    for (let i = 0; i < 80; i++) {
      freezeClockAt(t0 + i * 125);
      expect((await call("/v1.0/me/presence", { token: t })).status).toBe(200);
    }
    // Grants of 1, 2, 4 and 8 find the pace, then whole grants of 15 (a hundredth of the limit,
    // spent within their 4-second lease): 9 calls. Grants lasting a second took 13; doubling from
    // one after every lapsed grant, 19.
    expect(lease).toHaveBeenCalledTimes(9);
  });

  it("gives a lapsed grant's unspent rest back to the app's object with its next call, once", async () => {
    const lease = vi.spyOn(AppThrottle.prototype, "lease");
    const t0 = Date.now();
    freezeClockAt(t0);
    // A hundredth of 300 reads: grants of up to 3.
    const LARGE: Partial<Env> = { THROTTLE_READS_PER_30S: "300", THROTTLE_ALL_PER_30S: "1000" };
    const t = await token({
      tenant: crypto.randomUUID(),
      app: crypto.randomUUID(),
      user: newUserId(),
      scopes: "Presence.Read",
    });
    const read = async () => expect((await callWith(LARGE, "/v1.0/me/presence", { token: t })).status).toBe(200);
    // Four reads in a burst: grants of 1, 2 and 3, of which the last has 2 left unspent.
    for (let i = 0; i < 4; i++) await read();
    expect(lease.mock.calls.map((args) => [args[2], args[3]])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    // Past the grant's lease, the next call hands the 2 back; the one after has nothing to return.
    freezeClockAt(t0 + 60_000);
    await read();
    freezeClockAt(t0 + 120_000);
    await read();
    expect(lease.mock.calls.slice(3).map((args) => args[3])).toEqual([2, 0]);
  });

  it("admits again once Retry-After has passed", async () => {
    const t0 = Date.now();
    freezeClockAt(t0);
    const client = newApp();
    await statuses(times(5, client.read));
    const refused = await client.read();
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    freezeClockAt(t0 + retryAfter * 1000 - 1);
    expect((await client.read()).status).toBe(429);
    freezeClockAt(t0 + retryAfter * 1000);
    expect(await statuses(times(2, client.read))).toEqual([200, 429]);
  });

  it("never refuses a client that stays under the limit, over several windows", async () => {
    const t0 = Date.now();
    const client = newApp();
    // A full burst at the start of each window, then requests spread evenly.
    for (let window = 0; window < 3; window++) {
      freezeClockAt(t0 + window * (THROTTLE_WINDOW_MS + 1));
      expect(await statuses(times(5, client.read))).toEqual(times(5, 200));
    }
    const start = t0 + 3 * (THROTTLE_WINDOW_MS + 1);
    for (let i = 0; i < 20; i++) {
      freezeClockAt(start + i * (THROTTLE_WINDOW_MS / 5));
      expect((await client.read()).status).toBe(200);
    }
  });

  it("throttles one noisy app without touching other apps, or the same app in another tenant", async () => {
    freezeClockAt(Date.now());
    const noisy = newApp();
    const sameTenant = newApp(noisy.tenant);
    const sameAppElsewhere = newApp(crypto.randomUUID(), noisy.app);
    expect(await statuses(times(10, noisy.read))).toEqual([...times(5, 200), ...times(5, 429)]);
    expect(await statuses(times(5, sameTenant.read))).toEqual(times(5, 200));
    expect(await statuses(times(5, sameAppElsewhere.read))).toEqual(times(5, 200));
  });

  it("refuses before the user's Durable Object is touched", async () => {
    freezeClockAt(Date.now());
    const client = newApp();
    // Reading mailbox settings counts as "other" and creates no storage.
    expect(await statuses(times(8, client.readSettings))).toEqual(times(8, 200));
    await expectGraphError(await client.write(), 429, "TooManyRequests");
    const stub = env.USER_PRESENCE.getByName(`${client.tenant}:${client.user}`);
    const tables = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray(),
    );
    expect(tables).toEqual([]);
  });

  it("checks the token first: an invalid token is 401, never counted", async () => {
    freezeClockAt(Date.now());
    const client = newApp();
    for (let i = 0; i < 10; i++) {
      await expectGraphError(
        await callWith(SMALL, "/v1.0/me/presence", { token: "not-a-token" }),
        401,
        "InvalidAuthenticationToken",
      );
    }
    expect(await statuses(times(5, client.read))).toEqual(times(5, 200));
  });

  it("uses D20's numbers unless the bindings say otherwise", () => {
    const limits = (bindings: Partial<typeof env>) => readConfig({ ...env, ...bindings }).throttle;
    expect(DEFAULT_THROTTLE_LIMITS).toEqual({ reads: 1500, all: 10000 });
    expect(limits({ THROTTLE_READS_PER_30S: undefined, THROTTLE_ALL_PER_30S: undefined })).toEqual(
      DEFAULT_THROTTLE_LIMITS,
    );
    expect(limits({ THROTTLE_READS_PER_30S: "0", THROTTLE_ALL_PER_30S: "lots" })).toEqual(DEFAULT_THROTTLE_LIMITS);
    expect(limits(SMALL)).toEqual({ reads: 5, all: 8 });
  });
});
