import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { JWKS_MAX_AGE_MS, JWKS_MIN_REFETCH_INTERVAL_MS } from "../../src/http/jwks";
import { APP, callWith, expectGraphError, freezeClockAt, newUserId, TENANT, token } from "../helpers";

// Tokens as Entra ID issues them for this API, signed with keys made here and
// served from a key set URL that only this file's fetch mock answers.

const AUDIENCE = "api://graph-presence-edge";
const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
const realFetch = globalThis.fetch;

type Alg = "RS256" | "ES256";
interface SigningKey {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(alg: Alg, kid = crypto.randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  // Entra's published keys carry kid, kty and use, but no alg.
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, use: "sig" } };
}

/** A provider with its own key set URL (so its cache starts empty) and a count of fetches to it. */
function provider(published: SigningKey[], bindings: Partial<Env> = {}) {
  const url = `https://login.test/${crypto.randomUUID()}/discovery/v2.0/keys`;
  const state = {
    fetches: 0,
    failing: false,
    published,
    /** While set, the provider does not answer until it settles (a provider that hangs). */
    hanging: undefined as Promise<void> | undefined,
  };
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const href = input instanceof Request ? input.url : String(input);
    if (href !== url) return realFetch(input, init);
    state.fetches += 1;
    if (state.hanging) await state.hanging;
    if (state.failing) return new Response("unavailable", { status: 503 });
    return Response.json({ keys: state.published.map((key) => key.publicJwk) });
  });
  return {
    state,
    bindings: { AUTH_JWKS_URL: url, AUTH_ISSUERS: ISSUER, AUTH_AUDIENCE: AUDIENCE, ...bindings },
  };
}

/** A delegated Entra-style access token; `claims` override the defaults. */
function sign(key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: ISSUER,
    aud: AUDIENCE,
    tid: TENANT,
    oid: newUserId(),
    azp: APP,
    scp: "Presence.Read",
    iat: now,
    nbf: now,
    exp: now + 3600,
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, typ: "JWT", kid: key.kid, ...header })
    .sign(key.privateKey);
}

const readMe = (bindings: Partial<Env>, t: string) => callWith(bindings, "/v1.0/me/presence", { token: t });

async function expect401(response: Response, message: RegExp) {
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
  await expectGraphError(response, 401, "InvalidAuthenticationToken", message);
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("tokens from an OpenID provider (RS256, ES256)", () => {
  it.each(["RS256", "ES256"] as const)("accepts a valid %s token", async (alg) => {
    const key = await newKey(alg);
    const { bindings } = provider([key]);
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
  });

  it("accepts provider and HS256 tokens side by side when both are configured", async () => {
    const key = await newKey("RS256");
    const { bindings } = provider([key]);
    expect(env.AUTH_HS256_SECRET).toBeTruthy();
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    expect((await readMe(bindings, await token({ user: newUserId(), scopes: "Presence.Read" }))).status).toBe(200);
  });

  it("refuses HS256 when only the provider is configured, also one keyed with the public key", async () => {
    const key = await newKey("RS256");
    const { bindings } = provider([key], { AUTH_HS256_SECRET: undefined });
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    await expect401(await readMe(bindings, await token({ user: newUserId(), scopes: "Presence.Read" })), /algorithm/);
    // The classic key confusion: an HMAC keyed with the provider's public key.
    const confused = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, tid: TENANT, oid: newUserId(), azp: APP })
      .setProtectedHeader({ alg: "HS256", kid: key.kid })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
    await expect401(await readMe(bindings, confused), /algorithm/);
  });

  it("refuses alg none", async () => {
    const key = await newKey("RS256");
    const { bindings } = provider([key]);
    const signed = await sign(key);
    const [, payload] = signed.split(".");
    const unsigned = `${btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "")}.${payload}.`;
    await expect401(await readMe(bindings, unsigned), /algorithm/);
  });

  it.each([
    [
      "a wrong issuer",
      { iss: "https://login.microsoftonline.com/99999999-9999-4999-8999-999999999999/v2.0" },
      /issuer/,
    ],
    ["no issuer", { iss: undefined }, /issuer/],
    ["a wrong audience", { aud: "api://someone-else" }, /'aud'/],
    ["an expired token", { exp: Math.floor(Date.now() / 1000) - 300 }, /expired/],
    ["a token not valid yet", { nbf: Math.floor(Date.now() / 1000) + 300 }, /not valid yet/],
    ["a token without exp", { exp: undefined }, /'exp'/],
  ])("refuses %s", async (_what, claims, message) => {
    const key = await newKey("ES256");
    const { bindings } = provider([key]);
    await expect401(await readMe(bindings, await sign(key, claims)), message);
  });

  it("allows a small clock skew on exp and nbf", async () => {
    const key = await newKey("RS256");
    const { bindings } = provider([key]);
    const now = Math.floor(Date.now() / 1000);
    expect((await readMe(bindings, await sign(key, { exp: now - 30 }))).status).toBe(200);
    expect((await readMe(bindings, await sign(key, { nbf: now + 30 }))).status).toBe(200);
  });

  it("refuses a token signed by another key under a published kid", async () => {
    const published = await newKey("RS256");
    const impostor = { ...(await newKey("RS256")), kid: published.kid };
    const { bindings } = provider([published]);
    await expect401(await readMe(bindings, await sign(impostor)), /signature/);
  });

  it("accepts several issuers and audiences, and {tenantid} only for the token's own tenant", async () => {
    const key = await newKey("RS256");
    const other = "99999999-9999-4999-8999-999999999999";
    const { bindings } = provider([key], {
      AUTH_ISSUERS: `https://sts.windows.net/${TENANT}/, https://login.microsoftonline.com/{tenantid}/v2.0`,
      AUTH_AUDIENCE: `${AUDIENCE}, ${APP}`,
    });
    expect((await readMe(bindings, await sign(key, { iss: `https://sts.windows.net/${TENANT}/` }))).status).toBe(200);
    expect((await readMe(bindings, await sign(key, { aud: APP }))).status).toBe(200);
    const v2Issuer = (tenant: string) => `https://login.microsoftonline.com/${tenant}/v2.0`;
    expect((await readMe(bindings, await sign(key, { tid: other, iss: v2Issuer(other) }))).status).toBe(200);
    await expect401(await readMe(bindings, await sign(key, { tid: TENANT, iss: v2Issuer(other) })), /issuer/);
  });

  it("refuses provider tokens when the issuer or audience is not configured", async () => {
    const key = await newKey("RS256");
    const { bindings } = provider([key], { AUTH_AUDIENCE: "" });
    const response = await readMe(bindings, await sign(key));
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("AUTH_AUDIENCE");
  });
});

describe("the provider's key set", () => {
  it("is fetched once, kept, and fetched again for an unknown kid at most once a minute", async () => {
    const t0 = Date.now();
    freezeClockAt(t0);
    const first = await newKey("RS256");
    const { bindings, state } = provider([first]);
    for (let i = 0; i < 3; i++) expect((await readMe(bindings, await sign(first))).status).toBe(200);
    expect(state.fetches).toBe(1);

    // A rotation: the provider publishes a new key and signs with it.
    const rotated = await newKey("ES256");
    state.published = [first, rotated];
    freezeClockAt(t0 + 5_000);
    // Too soon after the last fetch: refused without asking the provider again.
    await expect401(await readMe(bindings, await sign(rotated)), /signing key is not known/);
    for (let i = 0; i < 5; i++) await readMe(bindings, await sign(await newKey("RS256")));
    expect(state.fetches).toBe(1);

    freezeClockAt(t0 + JWKS_MIN_REFETCH_INTERVAL_MS);
    expect((await readMe(bindings, await sign(rotated))).status).toBe(200);
    expect(state.fetches).toBe(2);
    // Forged kids right after a fetch do not reach the provider.
    for (let i = 0; i < 5; i++) await readMe(bindings, await sign(await newKey("RS256")));
    expect(state.fetches).toBe(2);

    // A routine refresh once the cached set is old.
    freezeClockAt(t0 + JWKS_MIN_REFETCH_INTERVAL_MS + JWKS_MAX_AGE_MS);
    expect((await readMe(bindings, await sign(first))).status).toBe(200);
    expect(state.fetches).toBe(3);
  });

  it("answers 503 while it cannot be read, and retries within seconds, backing off to at most 16 s", async () => {
    const t0 = Date.now();
    freezeClockAt(t0);
    const key = await newKey("RS256");
    const { bindings, state } = provider([key]);
    state.failing = true;
    const refusal = async (at: number) => {
      freezeClockAt(at);
      const response = await readMe(bindings, await sign(key));
      const retryAfter = response.headers.get("retry-after");
      await expectGraphError(response, 503, "serviceNotAvailable");
      return Number(retryAfter);
    };
    // Each failure doubles the wait before the next attempt, from 1 s up to 16 s.
    let at = t0;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const wait = await refusal(at);
      waits.push(wait);
      // Asked again before the wait is over: refused without asking the provider.
      expect(await refusal(at + wait * 1000 - 1)).toBe(1);
      at += wait * 1000;
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 16, 16]);
    expect(state.fetches).toBe(7);

    // Back within seconds of the provider, not a minute.
    state.failing = false;
    freezeClockAt(at);
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    expect(state.fetches).toBe(8);
  });

  it("makes one fetch for all the requests of a cold isolate waiting on a provider that hangs", async () => {
    const key = await newKey("RS256");
    const { bindings, state } = provider([key]);
    let answer = () => {};
    state.hanging = new Promise((resolve) => {
      answer = resolve;
    });
    const tokens = await Promise.all(Array.from({ length: 8 }, () => sign(key)));
    const responses = Promise.all(tokens.map((t) => readMe(bindings, t)));
    // Let every request reach the key set before the provider answers.
    await vi.waitUntil(() => state.fetches > 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    answer();
    expect((await responses).map((r) => r.status)).toEqual(tokens.map(() => 200));
    expect(state.fetches).toBe(1);
  });

  it("is not held up by a fetch that never ends (as when the request that started it is cancelled)", async () => {
    const key = await newKey("RS256");
    const { bindings, state } = provider([key]);
    // This provider ignores the fetch's timeout too, so only the waiters' own deadline ends the wait.
    state.hanging = new Promise(() => {});
    const waited = await readMe(bindings, await sign(key));
    expect(waited.headers.get("retry-after")).toBe("1");
    await expectGraphError(waited, 503, "serviceNotAvailable");
    state.hanging = undefined;
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    expect(state.fetches).toBe(2);
  }, 15_000);

  it("lets requests with a new kid wait for the one fetch a rotation started", async () => {
    const t0 = Date.now();
    freezeClockAt(t0);
    const first = await newKey("RS256");
    const { bindings, state } = provider([first]);
    expect((await readMe(bindings, await sign(first))).status).toBe(200);
    const rotated = await newKey("ES256");
    state.published = [first, rotated];
    let answer = () => {};
    state.hanging = new Promise((resolve) => {
      answer = resolve;
    });
    freezeClockAt(t0 + JWKS_MIN_REFETCH_INTERVAL_MS);
    const tokens = await Promise.all(Array.from({ length: 4 }, () => sign(rotated)));
    const responses = Promise.all(tokens.map((t) => readMe(bindings, t)));
    await vi.waitUntil(() => state.fetches > 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    answer();
    expect((await responses).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(state.fetches).toBe(2);
  });

  it("keeps serving the keys it has while the provider fails", async () => {
    const t0 = Date.now();
    freezeClockAt(t0);
    const key = await newKey("RS256");
    const { bindings, state } = provider([key]);
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    state.failing = true;
    freezeClockAt(t0 + JWKS_MAX_AGE_MS);
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    expect((await readMe(bindings, await sign(key))).status).toBe(200);
    expect(state.fetches).toBe(2);
  });
});
