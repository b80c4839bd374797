import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { toSetPreferredCommand, toSetSessionCommand, toSetStatusMessageCommand } from "../../src/domain/commands";
import { call, eventually, freezeClockAt, token } from "../helpers";

// Requests an attacker might send, generated: methods, paths, ids, headers,
// bodies (nested too deep, with prototype keys, with lone surrogates) and
// tokens, against every endpoint, with a receiver that redirects handshakes.
// Each answer must be a success or a well-formed Graph error, never a 5xx; a
// rejected request must leave every user's stored state exactly as it was; a
// poisoned body is never accepted, and the redirect target is never called.

const TENANT = crypto.randomUUID();
const APP = crypto.randomUUID();
const USERS = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()] as const;
const [VICTIM] = USERS;
/** Where the test's hostile receiver redirects: it must never be called. */
const INTERNAL = "127.0.0.1:9";
const internalCalls: string[] = [];

const SCOPES = [
  "Presence.Read",
  "Presence.Read.All",
  "Presence.ReadWrite",
  "MailboxSettings.Read",
  "MailboxSettings.ReadWrite",
];
const ROLES = ["Presence.Read.All", "Presence.ReadWrite.All", "MailboxSettings.Read", "MailboxSettings.ReadWrite"];
const ACTIONS = [
  "setPresence",
  "clearPresence",
  "setUserPreferredPresence",
  "clearUserPreferredPresence",
  "setStatusMessage",
  "setManualLocation",
  "setAutomaticLocation",
  "clearAutomaticLocation",
  "clearLocation",
];

/** A user's whole stored state: every row of every table, and the alarm. */
async function storedState(user: string) {
  const stub = env.USER_PRESENCE.getByName(`${TENANT}:${user}`);
  return runInDurableObject(stub, async (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .toArray()
      .map((row) => row.name)
      .filter((name) => !name.startsWith("_cf") && !name.startsWith("sqlite_"));
    return {
      tables: Object.fromEntries(tables.map((name) => [name, sql.exec(`SELECT * FROM "${name}"`).toArray()])),
      alarm: await state.storage.getAlarm(),
    };
  });
}
const everyonesState = () => Promise.all(USERS.map(storedState));

/**
 * Waits until every user's changes have reached its relays: users read earlier have read views
 * (D30) for an audience, and their fan-out (its outbox rows, its retry alarm) settles after the
 * write that caused it, so it is let finish before a request's effect is judged.
 */
const fanOutSettled = () =>
  eventually(async () => (await everyonesState()).every(({ tables }) => (tables.changes ?? []).length === 0));

/**
 * Gives the victim something to lose before every request (an earlier success
 * may have cleared it): a session, a preferred presence, a status message, a
 * location and mailbox settings, written straight into its Durable Object.
 */
async function armVictim() {
  const stub = env.USER_PRESENCE.getByName(`${TENANT}:${VICTIM}`);
  await stub.updateMailboxSettings({ timeZone: "UTC", automaticRepliesSetting: { status: "alwaysEnabled" } });
  await stub.setSession(toSetSessionCommand({ sessionId: APP, availability: "Busy", activity: "InACall" }));
  await stub.setPreferred(toSetPreferredCommand({ availability: "DoNotDisturb", activity: "DoNotDisturb" }));
  await stub.setStatusMessage(toSetStatusMessageCommand({ message: { content: "in a meeting" } }, Date.now()));
  await stub.setWorkLocation("manual", "", "office", null);
}

// --- what the attacker sends -------------------------------------------------

const printable = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength });

/** Anything JSON, and values that are nearly right. */
const value = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  fc.constantFrom("", " ", "Available", "busy", "InACall", "PT5M", "PT4H", "P7D", "PT0S", "-PT5M", "P1Y", APP),
  fc.constantFrom("UTC", "Pacific Standard Time", "Asia/Tokyo", "Mars/Olympus", "2030-01-01T00:00:00", "1e309"),
);
/** Mostly one of the good values, sometimes anything. */
const mostly = (...good: unknown[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...good) }, value);
/** An object of the given shape: usually complete, sometimes with keys missing or unknown ones added. */
const shaped = <T extends Record<string, fc.Arbitrary<unknown>>>(shape: T) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.record(shape) },
    fc.record(shape, { requiredKeys: [] }),
    fc
      .tuple(fc.record(shape), fc.dictionary(printable(12), value, { minKeys: 1, maxKeys: 2 }))
      .map(([known, extra]) => ({
        ...known,
        ...extra,
      })),
  );

const dateTimeTimeZone = shaped({
  dateTime: mostly("2030-10-18T17:05:00", "2000-01-01T00:00:00", "2030-10-18T17:05:00Z", "2030-13-45T99:00:00"),
  timeZone: mostly("Pacific Standard Time", "UTC", "Asia/Tokyo", null),
});
const AVAILABILITIES = ["Available", "Busy", "DoNotDisturb", "BeRightBack", "Away", "Offline"];
const ACTIVITIES = [
  "Available",
  "InACall",
  "InAConferenceCall",
  "Busy",
  "DoNotDisturb",
  "Away",
  "OffWork",
  "Presenting",
];
const presenceBody = shaped({
  sessionId: mostly(APP, APP.toUpperCase()),
  availability: mostly(...AVAILABILITIES),
  activity: mostly(...ACTIVITIES),
  expirationDuration: mostly("PT5M", "PT1H", "PT4H", "P7D", null),
});
const locationBody = shaped({
  workLocationType: mostly("office", "remote", "timeOff", "unspecified"),
  placeId: mostly(null, crypto.randomUUID()),
});
const emptyBody = fc.oneof(fc.constant({}), shaped({ extra: value }));
const BODIES: Record<string, fc.Arbitrary<unknown>> = {
  setPresence: presenceBody,
  clearPresence: shaped({ sessionId: mostly(APP) }),
  setUserPreferredPresence: presenceBody,
  clearUserPreferredPresence: emptyBody,
  setStatusMessage: shaped({
    statusMessage: fc.oneof(
      fc.constant(null),
      shaped({
        message: fc.oneof(
          fc.constant(null),
          shaped({ content: fc.oneof(printable(300), value), contentType: mostly("text", "html") }),
        ),
        expiryDateTime: dateTimeTimeZone,
      }),
    ),
  }),
  setManualLocation: locationBody,
  setAutomaticLocation: locationBody,
  clearAutomaticLocation: emptyBody,
  clearLocation: emptyBody,
  getPresencesByUserId: shaped({
    ids: fc.oneof(fc.array(mostly(...USERS, "me", "not-a-guid"), { maxLength: 8 }), value),
  }),
  subscriptions: shaped({
    changeType: mostly("updated", "created"),
    // receiver.test answers every handshake with a redirect to an internal address (D25).
    notificationUrl: mostly(
      "http://receiver.test/hook",
      "https://hooks.example/x",
      "http://10.0.0.1/",
      "ftp://x",
      `https://${INTERNAL}/hook`,
      "https://[::1]/hook",
      "https://2130706433/hook",
      "https://localhost/hook",
    ),
    lifecycleNotificationUrl: mostly(null, "http://receiver.test/lifecycle", "https://169.254.169.254/"),
    resource: mostly(
      `/communications/presences/${VICTIM}`,
      `/communications/presences?$filter=id in ('${VICTIM}')`,
      `/communications/presences?$filter=id in (${VICTIM})`,
      "/me/messages",
    ),
    expirationDateTime: mostly(new Date(Date.now() + 30 * 60_000).toISOString(), "2020-01-01T00:00:00Z", "tomorrow"),
    clientState: fc.oneof(printable(200), value),
    includeResourceData: fc.oneof(fc.boolean(), value),
    encryptionCertificate: fc.oneof(printable(100), value),
    encryptionCertificateId: fc.oneof(printable(20), value),
  }),
  mailboxSettings: shaped({
    timeZone: mostly("Tokyo Standard Time", "UTC", "Europe/Paris"),
    automaticRepliesSetting: shaped({
      status: mostly("disabled", "alwaysEnabled", "scheduled"),
      externalAudience: mostly("none", "contactsOnly", "all"),
      scheduledStartDateTime: dateTimeTimeZone,
      scheduledEndDateTime: dateTimeTimeZone,
      internalReplyMessage: fc.oneof(printable(100), value),
    }),
  }),
};

// D28: bodies that must always be refused, whatever else is right with them.
const PROTOTYPE_KEYS = ["__proto__", "constructor", "prototype"];

/** `key: inner` added to the body, or to its first object-valued property (a computed key is an own property). */
function inject(body: unknown, key: string, inner: unknown, nested: boolean): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return { [key]: inner };
  const entries = Object.entries(body);
  const host = nested ? entries.find(([, v]) => v !== null && typeof v === "object" && !Array.isArray(v)) : undefined;
  return host ? { ...body, [host[0]]: inject(host[1], key, inner, false) } : { ...body, [key]: inner };
}

/** The JSON text with a lone high surrogate escaped into its `n`-th string (a value or a key). */
function withLoneSurrogate(text: string, n: number, surrogate: string): string {
  const literals = [...text.matchAll(/"(?:[^"\\]|\\.)*"/g)];
  const chosen = literals[n % Math.max(1, literals.length)];
  if (chosen?.index === undefined) return `{"content":"${surrogate}"}`;
  // Just before the closing quote: a high surrogate there can never be half of a pair.
  const end = chosen.index + chosen[0].length - 1;
  return `${text.slice(0, end)}${surrogate}${text.slice(end)}`;
}

const deepText = fc
  .tuple(
    fc.integer({ min: 65, max: 3_000 }),
    fc.boolean(),
    fc.constantFrom("statusMessage", "sessionId", "ids", "automaticRepliesSetting", "notificationUrl", "x"),
  )
  .map(([depth, arrays, key]) => {
    const inner = arrays ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    return `{"${key}":${inner}}`;
  });

/** A body, and whether it must be refused wherever it is sent (D28). */
interface Sent {
  text: BodyInit | undefined;
  poisoned: boolean;
}
const clean = (text: BodyInit | undefined): Sent => ({ text, poisoned: false });
const poisoned = (text: string): Sent => ({ text, poisoned: true });

/** The body for an operation: mostly its own shape, sometimes another's, sometimes not JSON at all, sometimes poisoned. */
const bodyFor = (operation: string): fc.Arbitrary<Sent> => {
  const own = BODIES[operation] ?? emptyBody;
  return fc.oneof(
    { weight: 6, arbitrary: own.map((b) => clean(JSON.stringify(b))) },
    fc.constant(clean(undefined)),
    fc.constantFrom(...Object.values(BODIES)).chain((other) => other.map((b) => clean(JSON.stringify(b)))),
    fc.jsonValue().map((v) => clean(JSON.stringify(v))),
    fc.string({ maxLength: 100 }).map(clean),
    fc.uint8Array({ maxLength: 100 }).map(clean),
    fc.constant(clean(`{"statusMessage":{"message":{"content":"${"x".repeat(70_000)}"}}}`)),
    // A prototype key whose value is a whole valid body: what it smuggled must never be read.
    fc
      .tuple(own, fc.constantFrom(...PROTOTYPE_KEYS), own, fc.boolean())
      .map(([b, key, smuggled, nested]) => poisoned(JSON.stringify(inject(b, key, smuggled, nested)))),
    fc
      .tuple(own, fc.nat(), fc.constantFrom("\\ud800", "\\udbff", "x\\ud83d"))
      .map(([b, n, surrogate]) => poisoned(withLoneSurrogate(JSON.stringify(b), n, surrogate))),
    deepText.map(poisoned),
  );
};

// Most requests aim at the victim with a token that may write it: that is where a refusal can do harm.
const idInPath = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(VICTIM, VICTIM, VICTIM.toUpperCase()) },
  { weight: 2, arbitrary: fc.constantFrom(...USERS) },
  printable(40).map(encodeURIComponent),
  fc.constantFrom("me", "..", "%2e%2e", "%2F", "%00", "%", "%zz", "a/b", "'", "😀", "x".repeat(300)),
);
const presencePath = fc.oneof(
  { weight: 2, arbitrary: fc.constant("me/presence") },
  idInPath.map((id) => `users/${id}/presence`),
  idInPath.map((id) => `communications/presences/${id}`),
);
const actionName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ACTIONS) },
  fc.constantFrom(...ACTIONS).map((a) => `microsoft.graph.${a}`),
  printable(20).map(encodeURIComponent),
);

/** An endpoint with its method and body; the method is sometimes the wrong one. */
const operation = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(presencePath, actionName)
      .chain(([p, a]) =>
        bodyFor(a.replace("microsoft.graph.", "")).map((b) => ({ method: "POST", resource: `${p}/${a}`, body: b })),
      ),
  },
  { weight: 3, arbitrary: presencePath.map((p) => ({ method: "GET", resource: p, body: clean(undefined) })) },
  {
    weight: 2,
    arbitrary: bodyFor("getPresencesByUserId").map((b) => ({
      method: "POST",
      resource: "communications/getPresencesByUserId",
      body: b,
    })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.oneof(
          fc.constant("me/mailboxSettings"),
          idInPath.map((id) => `users/${id}/mailboxSettings`),
        ),
        fc.constantFrom("GET", "PATCH"),
      )
      .chain(([p, m]) =>
        bodyFor("mailboxSettings").map((b) => ({ method: m, resource: p, body: m === "GET" ? clean(undefined) : b })),
      ),
  },
  // A plain GET of a watch endpoint (no upgrade) must be refused cleanly too.
  presencePath.map((p) => ({ method: "GET", resource: `${p}/watch`, body: clean(undefined) })),
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.oneof(
          fc.constant("subscriptions"),
          fc.oneof(fc.uuid(), printable(40).map(encodeURIComponent)).map((id) => `subscriptions/${id}`),
          fc.uuid().map((id) => `subscriptions/${id}/reauthorize`),
        ),
        fc.constantFrom("GET", "POST", "PATCH", "DELETE"),
      )
      .chain(([p, m]) => bodyFor("subscriptions").map((b) => ({ method: m, resource: p, body: b }))),
  },
  printable(30).map((p) => ({ method: "GET", resource: encodeURIComponent(p), body: clean(undefined) })),
);
const anyMethod = fc.constantFrom("GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD");

/** A token, as a recipe: signing is asynchronous, so it happens in the property. */
const tokenRecipe = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("delegated" as const),
      user: fc.oneof({ weight: 6, arbitrary: fc.constant(VICTIM) }, fc.constantFrom(...USERS)),
      scopes: fc.oneof(fc.constant(SCOPES), fc.subarray(SCOPES)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("application" as const),
      roles: fc.oneof(fc.constant(ROLES), fc.subarray(ROLES)),
    }),
  },
  fc.record({
    kind: fc.constant("claims" as const),
    claims: fc.record(
      {
        tid: fc.oneof(fc.constant(TENANT), value),
        oid: fc.oneof(fc.constantFrom(...USERS), value),
        appid: fc.oneof(fc.constant(APP), value),
        azp: value,
        scp: fc.oneof(fc.constant(SCOPES.join(" ")), value),
        idtyp: fc.oneof(fc.constantFrom("app", "user"), value),
        roles: fc.oneof(fc.constant(ROLES), value),
        exp: fc.oneof(fc.integer(), value),
        nbf: fc.oneof(fc.integer(), value),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.constantFrom("none", "wrong-secret", "expired", "rs256-header", "missing" as const).map((kind) => ({ kind })),
  printable(200).map((raw) => ({ kind: "raw" as const, raw })),
);
type TokenRecipe = typeof tokenRecipe extends fc.Arbitrary<infer T> ? T : never;

async function authorization(recipe: TokenRecipe): Promise<string | undefined> {
  const base = { tenant: TENANT, app: APP };
  const enc = (part: object) => btoa(JSON.stringify(part)).replace(/=+$/, "");
  switch (recipe.kind) {
    case "delegated":
      return `Bearer ${await token({ ...base, user: recipe.user, scopes: recipe.scopes.join(" ") })}`;
    case "application":
      return `Bearer ${await token({ ...base, roles: recipe.roles })}`;
    case "claims":
      return `Bearer ${await new SignJWT(recipe.claims as Record<string, unknown>)
        .setProtectedHeader({ alg: "HS256" })
        .sign(new TextEncoder().encode(env.AUTH_HS256_SECRET))}`;
    case "none":
      return `Bearer ${enc({ alg: "none" })}.${enc({ tid: TENANT, oid: VICTIM, appid: APP, scp: "Presence.ReadWrite", exp: 2e9 })}.`;
    case "wrong-secret":
      return `Bearer ${await token({ ...base, user: VICTIM, scopes: "Presence.ReadWrite", secret: "guessed-secret" })}`;
    case "expired":
      return `Bearer ${await token({ ...base, user: VICTIM, scopes: "Presence.ReadWrite", expiresIn: -3600 })}`;
    case "rs256-header": {
      const real = await token({ ...base, user: VICTIM, scopes: "Presence.ReadWrite" });
      return `Bearer ${enc({ alg: "RS256", kid: "x" })}.${real.split(".").slice(1).join(".")}`;
    }
    case "missing":
      return undefined;
    case "raw":
      return recipe.raw;
  }
}

const request = fc
  .record({
    operation,
    otherMethod: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, anyMethod),
    version: fc.oneof({ weight: 8, arbitrary: fc.constantFrom("v1.0", "beta") }, fc.constantFrom("v2", "v1.0/", "")),
    query: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, printable(20)),
    token: tokenRecipe,
    contentType: fc.oneof(
      { weight: 6, arbitrary: fc.constant("application/json") },
      fc.constantFrom("application/json; charset=utf-8", "text/plain", "application/xml", "json", null),
    ),
    extraHeaders: fc.dictionary(
      fc.constantFrom("client-request-id", "origin", "access-control-request-method", "prefer", "x-forwarded-for"),
      printable(60),
      { maxKeys: 3 },
    ),
  })
  .map(({ operation: op, otherMethod, version, query, ...rest }) => ({
    ...rest,
    method: otherMethod ?? op.method,
    path: `/${version}/${op.resource}${query === null ? "" : `?${encodeURIComponent(query)}`}`,
    body: op.body.text,
    poisoned: op.body.poisoned,
  }));

// --- the property --------------------------------------------------------------

interface GraphErrorBody {
  error?: { code?: unknown; message?: unknown; innerError?: Record<string, unknown> };
}

describe("attacker input", () => {
  beforeAll(() => {
    // Freeze the clock: no fade or expiry may happen between two looks at the state.
    freezeClockAt(Date.now());
    // Nothing leaves the machine. receiver.test redirects every handshake to an internal
    // address that would echo the token; followed (as workerd does unless told not to),
    // the subscription would be created. Every other host is unreachable.
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      const token = url.searchParams.get("validationToken") ?? "";
      if (url.hostname !== "receiver.test") {
        if (url.host === INTERNAL) internalCalls.push(url.href);
        throw new TypeError("Network connection lost.");
      }
      const target = `http://${INTERNAL}/internal?validationToken=${encodeURIComponent(token)}`;
      if (request.redirect === "manual") return new Response(null, { status: 307, headers: { location: target } });
      internalCalls.push(target);
      return new Response(token, { headers: { "content-type": "text/plain" } });
    });
  });
  afterAll(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("answers every generated request with a success or a Graph error, and a refusal changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = { ...r.extraHeaders };
        const auth = await authorization(r.token);
        if (auth !== undefined) headers.authorization = auth;
        if (r.contentType !== null) headers["content-type"] = r.contentType;
        const withBody = r.method !== "GET" && r.method !== "HEAD" && r.body !== undefined;

        await armVictim();
        await fanOutSettled();
        const before = await everyonesState();
        const response = await call(r.path, { method: r.method, headers, rawBody: withBody ? r.body : undefined });
        const text = await response.text();
        const what = `${r.method} ${r.path} -> ${response.status} ${text.slice(0, 300)}`;

        expect(response.status, what).toBeLessThan(500);
        expect(internalCalls, what).toEqual([]);
        // D28: a poisoned body sent where bodies are read is never accepted.
        if (r.poisoned && withBody && (r.method === "POST" || r.method === "PATCH")) {
          expect(response.status, what).toBeGreaterThanOrEqual(400);
        }
        expect(response.headers.get("request-id"), what).toMatch(/^[0-9a-f-]{36}$/);
        if (response.status < 400) {
          expect([200, 204], what).toContain(response.status);
          if (text !== "") expect(() => JSON.parse(text), what).not.toThrow();
          return;
        }
        if (r.method !== "HEAD") {
          const { error } = JSON.parse(text) as GraphErrorBody;
          expect(typeof error?.code, what).toBe("string");
          expect(typeof error?.message, what).toBe("string");
          expect(error?.innerError?.["request-id"], what).toBe(response.headers.get("request-id"));
        }
        if (response.status === 401) expect(response.headers.get("www-authenticate"), what).toMatch(/^Bearer /);
        if (response.status === 429) expect(response.headers.get("retry-after"), what).toMatch(/^\d+$/);
        expect(await everyonesState(), what).toEqual(before);
      }),
      { numRuns: 300 },
    );
  }, 180_000);
});
