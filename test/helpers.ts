import {
  createExecutionContext,
  listDurableObjectIds,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import { vi } from "vitest";
import { RELAY_SHARDS } from "../src/domain/fanout";
import type { PresenceView } from "../src/domain/model";
import type { Env } from "../src/env";
import worker from "../src/index";
import { FanoutRelay } from "../src/objects/fanout-relay";
import { MIGRATIONS } from "../src/objects/presence-schema";

export const TENANT = "11111111-1111-4111-8111-111111111111";
export const APP = "22222222-2222-4222-8222-222222222222";
export const OTHER_APP = "33333333-3333-4333-8333-333333333333";

/**
 * Freezes `Date` at `ms` for the test and the Worker and objects, which share
 * its isolate: bursts and expiries then do not depend on the machine's speed.
 * Undo with `vi.useRealTimers()`.
 */
export const freezeClockAt = (ms: number) => vi.useFakeTimers({ now: ms, toFake: ["Date"] });

/** Builds a user object's tables as schema version `version` left them (an object an earlier version wrote). */
export function schemaAsOfVersion(sql: SqlStorage, version: number): void {
  sql.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)");
  MIGRATIONS.slice(0, version).forEach((statement, index) => {
    sql.exec(statement);
    sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", index + 1);
  });
}

/** The user's Durable Object in the test tenant, for alarms and storage checks. */
export const userObject = (user: string, tenant = TENANT) => env.USER_PRESENCE.getByName(`${tenant}:${user}`);

/** A fresh user id per test: storage is shared by the tests of one file. */
export function newUserId(): string {
  return crypto.randomUUID();
}

export interface TokenOptions {
  tenant?: string;
  user?: string;
  app?: string;
  scopes?: string;
  roles?: string[];
  expiresIn?: number;
  notBefore?: number;
  secret?: string;
  claims?: Record<string, unknown>;
}

/** Signs a token as Entra ID would issue it, with the test secret. */
export async function token(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    tid: options.tenant ?? TENANT,
    appid: options.app ?? APP,
    ...options.claims,
  };
  if (options.scopes !== undefined) {
    payload.scp = options.scopes;
    payload.oid = options.user;
  }
  if (options.roles !== undefined) payload.roles = options.roles;
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt(now);
  jwt.setExpirationTime(now + (options.expiresIn ?? 3600));
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  const secret = options.secret ?? env.AUTH_HS256_SECRET ?? "";
  return jwt.sign(new TextEncoder().encode(secret));
}

/** A delegated token for `user` with the given scopes. */
export const userToken = (
  user: string,
  scopes = "Presence.Read Presence.Read.All Presence.ReadWrite",
  extra: TokenOptions = {},
) => token({ user, scopes, ...extra });

/** An application token with the given roles. */
export const appToken = (roles: string[] = ["Presence.ReadWrite.All"], extra: TokenOptions = {}) =>
  token({ roles, ...extra });

export interface CallOptions {
  method?: string;
  token?: string;
  body?: unknown;
  rawBody?: BodyInit;
  headers?: Record<string, string>;
}

function request(path: string, options: CallOptions): Request {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: BodyInit | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return new Request(`https://presence.test${path}`, {
    method: options.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
  });
}

/** Calls the Worker as a client would. */
export function call(path: string, options: CallOptions = {}): Promise<Response> {
  return exports.default.fetch(request(path, options));
}

/**
 * Subscribes to `user`'s presence with `token`, notifications going to `notificationUrl` (a
 * WebhookReceiver must be installed). Returns the subscription's id.
 */
export async function subscribe(user: string, token: string, notificationUrl: string): Promise<string> {
  const response = await call(`/v1.0/subscriptions`, {
    method: "POST",
    token,
    body: {
      changeType: "updated",
      notificationUrl,
      resource: `/communications/presences/${user}`,
      expirationDateTime: new Date(Date.now() + 50 * 60_000).toISOString(),
    },
  });
  if (response.status !== 201) throw new Error(`subscription: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/**
 * Subscribes to `user`'s presence `count` times with `token`, each subscription with its own
 * notification URL `http://receiver.test/{path}/{i}` (a WebhookReceiver must be installed).
 */
export async function subscribeMany(user: string, count: number, token: string, path: string): Promise<void> {
  for (let i = 0; i < count; i++) await subscribe(user, token, `http://receiver.test/${path}/${i}`);
}

/**
 * Calls the same Worker with some bindings replaced (another auth set-up,
 * small throttle limits), leaving the configuration of the other tests alone.
 */
export async function callWith(bindings: Partial<Env>, path: string, options: CallOptions = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request(path, options), { ...env, ...bindings }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export type PresenceResource = PresenceView & { id: string; "@odata.context"?: string };

export async function getPresence(path: string, tokenValue: string): Promise<PresenceResource> {
  const response = await call(path, { token: tokenValue });
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as PresenceResource;
}

export async function expectGraphError(
  response: Response,
  status: number,
  code: string,
  messagePart?: string | RegExp,
) {
  const text = await response.text();
  if (response.status !== status) throw new Error(`expected ${status}, got ${response.status}: ${text}`);
  const body = JSON.parse(text) as { error: { code: string; message: string; innerError: Record<string, string> } };
  if (body.error.code !== code) throw new Error(`expected code ${code}, got ${body.error.code}: ${text}`);
  if (
    messagePart !== undefined &&
    !(typeof messagePart === "string" ? body.error.message.includes(messagePart) : messagePart.test(body.error.message))
  ) {
    throw new Error(`message '${body.error.message}' does not match ${messagePart}`);
  }
  if (
    !body.error.innerError["request-id"] ||
    body.error.innerError["request-id"] !== response.headers.get("request-id")
  ) {
    throw new Error(`innerError request-id missing or different from the header: ${text}`);
  }
  return body.error;
}

/** The tables a Durable Object has stored (none: it holds no storage, D29). */
export function tablesOf(stub: DurableObjectStub) {
  return runInDurableObject(stub, (_i, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((r) => r.name)
      .filter((name) => !name.startsWith("_cf") && !name.startsWith("sqlite_")),
  );
}

/** Who the user's relays hold, over every shard: the hubs watching the user, the read views, its subscriptions. */
export async function relayRegistrations(user: string, tenant = TENANT) {
  const hubs: string[] = [];
  const views: string[] = [];
  const subscriptions: string[] = [];
  for (let shard = 0; shard < RELAY_SHARDS; shard++) {
    const relay = env.FANOUT_RELAY.getByName(`${tenant}:${user}:${shard}`);
    const rows = await runInDurableObject(relay, (_i, state) => {
      const sql = state.storage.sql;
      const has = (table: string) =>
        sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray().length > 0;
      return {
        hubs: has("watchers") ? sql.exec<{ hub: string }>("SELECT hub FROM watchers").toArray() : [],
        views: has("read_views") ? sql.exec<{ name: string }>("SELECT name FROM read_views").toArray() : [],
        subscriptions: has("subscribers")
          ? sql.exec<{ subscription_id: string }>("SELECT subscription_id FROM subscribers").toArray()
          : [],
      };
    });
    hubs.push(...rows.hubs.map((r) => r.hub));
    views.push(...rows.views.map((r) => r.name));
    subscriptions.push(...rows.subscriptions.map((r) => r.subscription_id));
  }
  return { hubs, views, subscriptions };
}

/** Every socket row of every watch hub: which socket watches which user. */
export async function hubWatches() {
  const rows: { hub: string; userId: string; socketId: string }[] = [];
  for (const id of await listDurableObjectIds(env.PRESENCE_HUB)) {
    const hub = env.PRESENCE_HUB.get(id);
    const found = await runInDurableObject(hub, (_i, state) => {
      const sql = state.storage.sql;
      const has = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'watches'").toArray().length;
      return has
        ? sql.exec<{ user_id: string; socket_id: string }>("SELECT user_id, socket_id FROM watches").toArray()
        : [];
    });
    rows.push(...found.map((r) => ({ hub: id.toString(), userId: r.user_id, socketId: r.socket_id })));
  }
  return rows;
}

/** Waits (bounded) until `check` holds. */
export async function eventually(check: () => Promise<boolean>, ms = 15_000) {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error("the condition did not hold in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs `before` each time a relay of `user` is handed changes (to fail or hold it), until the spy is restored. */
export function interceptRelays(user: string, before: () => Promise<void> | void) {
  const deliver = FanoutRelay.prototype.deliver;
  return vi.spyOn(FanoutRelay.prototype, "deliver").mockImplementation(async function (this: FanoutRelay, ...args) {
    if (args[1] === user) await before();
    return deliver.apply(this, args);
  });
}

/**
 * Makes every relay of `user` refuse changes until the spy is restored. workerd prints an error
 * thrown in an object as an "uncaught exception" even when its caller handles it, so errors the
 * tests cause on purpose say in the output that they are expected.
 */
export const breakRelays = (user: string) =>
  interceptRelays(user, () => {
    throw new Error("EXPECTED, caused by the test: relay down");
  });

/** A promise the test settles when it chooses: what a held relay or queue waits for. */
export function gate() {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { held, release };
}
