import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import {
  authenticate,
  type Caller,
  callerFromClaims,
  VerifiedTokenCache,
  verifiedTokenKey,
  verifiedTokens,
} from "../../src/http/auth";
import { APP, appToken, call, expectGraphError, getPresence, newUserId, TENANT, token, userToken } from "../helpers";

// D24: `idtyp` decides whether a token is an application's when present;
// without it, a token with no `scp` is. An application token on /me is
// Graph's 400. And the cache of verified tokens is bounded in bytes.

const ME_WITH_APP_TOKEN = "/me request is only valid with delegated authentication flow.";

describe("which tokens are application tokens (D24)", () => {
  const base = { tid: TENANT, appid: APP };

  it.each([
    ["idtyp app", { idtyp: "app", roles: ["Presence.Read.All"] }, "application"],
    ["idtyp app, even with scp", { idtyp: "app", scp: "Presence.ReadWrite", roles: [] }, "application"],
    ["no idtyp and no scp", { roles: ["Presence.Read.All"] }, "application"],
    ["idtyp user without scp", { idtyp: "user", oid: newUserId(), roles: ["Presence.ReadWrite.All"] }, "delegated"],
    ["no idtyp, with scp", { oid: newUserId(), scp: "Presence.Read" }, "delegated"],
    ["no idtyp, with an empty scp", { oid: newUserId(), scp: "", roles: ["Presence.ReadWrite.All"] }, "delegated"],
  ])("%s: %s", (_name, claims, kind) => {
    expect(callerFromClaims({ ...base, ...claims }).kind).toBe(kind);
  });

  it("a delegated token without scp has no scopes", () => {
    const caller = callerFromClaims({ ...base, idtyp: "user", oid: newUserId(), roles: ["Presence.ReadWrite.All"] });
    expect(caller).toMatchObject({ kind: "delegated", scopes: new Set() });
  });

  it("a delegated token needs its oid, whatever decided it was delegated", () => {
    expect(() => callerFromClaims({ ...base, idtyp: "user", roles: ["Presence.ReadWrite.All"] })).toThrow(/'oid'/);
  });

  it("a user's token with roles and no scp cannot write another user's status message", async () => {
    const attacker = newUserId();
    const victim = newUserId();
    const reader = await appToken(["Presence.Read.All"]);
    const before = await getPresence(`/v1.0/users/${victim}/presence`, reader);
    const t = await token({
      user: attacker,
      roles: ["Presence.ReadWrite.All"],
      claims: { idtyp: "user", oid: attacker },
    });
    for (const path of [`/v1.0/users/${victim}/presence`, `/v1.0/me/presence`]) {
      await expectGraphError(
        await call(`${path}/setStatusMessage`, {
          token: t,
          body: { statusMessage: { message: { content: "pwned" } } },
        }),
        403,
        "Forbidden",
      );
    }
    expect(await getPresence(`/v1.0/users/${victim}/presence`, reader)).toEqual(before);
  });

  it("an application token still writes any user, and is an application token when idtyp says so", async () => {
    const user = newUserId();
    const t = await token({ roles: ["Presence.ReadWrite.All"], claims: { idtyp: "app", scp: "Presence.ReadWrite" } });
    const response = await call(`/v1.0/users/${user}/presence/setStatusMessage`, {
      token: t,
      body: { statusMessage: { message: { content: "from the app" } } },
    });
    expect(response.status).toBe(200);
    await expectGraphError(await call(`/v1.0/me/presence`, { token: t }), 400, "BadRequest", ME_WITH_APP_TOKEN);
  });
});

describe("an application token on /me (D24)", () => {
  it.each([
    ["GET", "/v1.0/me/presence", undefined],
    ["POST", "/v1.0/me/presence/setPresence", { sessionId: APP, availability: "Busy", activity: "InACall" }],
    ["POST", "/beta/me/presence/setStatusMessage", { statusMessage: null }],
    ["GET", "/v1.0/me/mailboxSettings", undefined],
    ["PATCH", "/v1.0/me/mailboxSettings", { timeZone: "UTC" }],
  ])("%s %s is Graph's 400", async (method, path, body) => {
    const t = await appToken(["Presence.ReadWrite.All", "MailboxSettings.ReadWrite"]);
    const error = await expectGraphError(await call(path, { method, token: t, body }), 400, "BadRequest");
    expect(error.message).toBe(ME_WITH_APP_TOKEN);
  });

  it("a delegated token on /me is still fine", async () => {
    expect((await call(`/v1.0/me/presence`, { token: await userToken(newUserId()) })).status).toBe(200);
  });
});

describe("the cache of verified tokens is bounded in bytes", () => {
  const caller: Caller = Object.freeze({
    kind: "application",
    tenantId: TENANT,
    appId: APP,
    roles: new Set<string>(),
    expiresAt: Date.now() + 3_600_000,
  });
  const key = (i: number, length = 1000) => `${i}:`.padEnd(length, "x");

  it("holds at most its byte budget, dropping the oldest entries first", () => {
    const cache = new VerifiedTokenCache({ maxBytes: 10_000, maxKeyLength: 2_000, entryOverhead: 0 });
    for (let i = 0; i < 25; i++) cache.set(key(i), caller, 1_000_000, 0);
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.size).toBe(10);
    expect(cache.get(key(14), 1)).toBeUndefined();
    expect(cache.get(key(15), 1)).toBe(caller);
    expect(cache.get(key(24), 1)).toBe(caller);
  });

  it("verifies but does not remember a token over the size cap", () => {
    const cache = new VerifiedTokenCache({ maxBytes: 10_000, maxKeyLength: 2_000, entryOverhead: 0 });
    cache.set(key(1, 2_001), caller, 1_000_000, 0);
    expect(cache.size).toBe(0);
    cache.set(key(2, 2_000), caller, 1_000_000, 0);
    expect(cache.get(key(2, 2_000), 1)).toBe(caller);
  });

  it("drops entries past their time even when nobody asks for them again", () => {
    const cache = new VerifiedTokenCache({ maxBytes: 100_000, maxKeyLength: 2_000, entryOverhead: 0 });
    cache.set(key(1), caller, 5_000, 0);
    cache.set(key(2), caller, 60_000, 0);
    expect(cache.size).toBe(2);
    // Past the first entry's time, any later use of the cache sweeps it out.
    cache.set(key(3), caller, 70_000, 6_000);
    expect(cache.size).toBe(2);
    expect(cache.bytes).toBe(2 * 1000);
    expect(cache.get(key(1), 6_000)).toBeUndefined();
    expect(cache.get(key(2), 59_999)).toBe(caller);
    // A read alone sweeps too.
    expect(cache.get(key(3), 65_000)).toBe(caller);
    expect(cache.size).toBe(1);
  });

  it("authenticate keeps at most 4 MiB of tokens, and none over 16 KiB", async () => {
    const secret = new TextEncoder().encode("test-only-hs256-secret-0123456789abcdef");
    const env = { AUTH_HS256_SECRET: "test-only-hs256-secret-0123456789abcdef" } as Parameters<typeof authenticate>[1];
    const now = Math.floor(Date.now() / 1000);
    const padded = (i: number, size: number) =>
      new SignJWT({ tid: TENANT, appid: APP, roles: [], pad: `${i}`.padEnd(size, "p") })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime(now + 3600)
        .sign(secret);
    const huge = await padded(0, 17_000);
    await authenticate(`Bearer ${huge}`, env);
    expect(verifiedTokens.get(verifiedTokenKey(env, huge), Date.now())).toBeUndefined();
    const small = await padded(0, 100);
    await authenticate(`Bearer ${small}`, env);
    expect(verifiedTokens.get(verifiedTokenKey(env, small), Date.now())).toBeDefined();
    // 400 distinct 12 KiB tokens: 16 MiB of text were kept whole before.
    for (let i = 1; i <= 400; i++) await authenticate(`Bearer ${await padded(i, 12_000)}`, env);
    expect(verifiedTokens.bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(verifiedTokens.size).toBeGreaterThan(100);
  }, 60_000);
});
