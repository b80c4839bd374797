import { SignJWT, UnsecuredJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  APP,
  appToken,
  call,
  callWith,
  expectGraphError,
  freezeClockAt,
  getPresence,
  newUserId,
  TENANT,
  token,
  userToken,
} from "../helpers";

const available = { sessionId: APP, availability: "Available", activity: "Available" };

describe("authentication (401)", () => {
  const user = newUserId();
  const path = `/v1.0/users/${user}/presence`;

  it.each([
    ["no Authorization header", async () => undefined, /missing/],
    ["a token that is not a JWT", async () => "not-a-jwt", /malformed/],
    [
      "a wrong signature",
      async () => token({ user, scopes: "Presence.Read", secret: "another-secret-entirely-0123456789" }),
      /signature/,
    ],
    ["an expired token", async () => token({ user, scopes: "Presence.Read", expiresIn: -3600 }), /expired/],
    ["a token not valid yet", async () => token({ user, scopes: "Presence.Read", notBefore: 3600 }), /not valid yet/],
    [
      "an unsigned token (alg none)",
      async () =>
        new UnsecuredJWT({ tid: TENANT, oid: user, appid: APP, scp: "Presence.Read" }).setExpirationTime("1h").encode(),
      /algorithm|malformed/,
    ],
    ["a token without tid", async () => token({ user, scopes: "Presence.Read", tenant: "" }), /'tid'/],
    ["a delegated token without oid", async () => token({ scopes: "Presence.Read" }), /'oid'/],
    ["a token without appid or azp", async () => token({ user, scopes: "Presence.Read", app: "" }), /'appid' or 'azp'/],
    [
      "an appid with spaces around the GUID",
      async () => token({ user, scopes: "Presence.Read", app: ` ${APP} ` }),
      /application id .* is not a GUID/,
    ],
    ["an appid that is not a GUID", async () => token({ roles: [], app: "my-app" }), /application id .* is not a GUID/],
    [
      "an azp that is not a GUID",
      async () => token({ user, scopes: "Presence.Read", app: "", claims: { azp: `${APP}\n` } }),
      /application id .* is not a GUID/,
    ],
    [
      "a token without exp",
      async () =>
        new SignJWT({ tid: TENANT, oid: user, appid: APP, scp: "Presence.Read" })
          .setProtectedHeader({ alg: "HS256" })
          .sign(new TextEncoder().encode("test-only-hs256-secret-0123456789abcdef")),
      /exp/,
    ],
  ])("refuses %s", async (_what, make, message) => {
    const t = await make();
    const response = await call(path, { token: t });
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectGraphError(response, 401, "InvalidAuthenticationToken", message);
  });

  it("accepts azp in place of appid", async () => {
    const t = await token({ user, scopes: "Presence.Read", app: "", claims: { azp: APP } });
    expect((await call(`/v1.0/me/presence`, { token: t })).status).toBe(200);
  });
});

describe("tokens verified lately are remembered, but never beyond what they are good for", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("refuses a remembered token once its exp and the clock skew have passed", async () => {
    const start = Date.UTC(2026, 10, 30, 9);
    freezeClockAt(start);
    const user = newUserId();
    // Expired 30 s ago, inside the 60 s skew: accepted, and remembered.
    const t = await token({ user, scopes: "Presence.Read", expiresIn: -30 });
    expect((await call(`/v1.0/me/presence`, { token: t })).status).toBe(200);
    expect((await call(`/v1.0/me/presence`, { token: t })).status).toBe(200);
    // 31 s later the skew is used up, well inside the minute a token is remembered.
    freezeClockAt(start + 31_000);
    await expectGraphError(await call(`/v1.0/me/presence`, { token: t }), 401, "InvalidAuthenticationToken", /expired/);
  });

  it("checks a remembered token again under another configuration", async () => {
    const t = await userToken(newUserId(), "Presence.Read");
    expect((await call(`/v1.0/me/presence`, { token: t })).status).toBe(200);
    const other = { AUTH_HS256_SECRET: "a-rotated-secret-0123456789abcdef0123456789" };
    await expectGraphError(
      await callWith(other, `/v1.0/me/presence`, { token: t }),
      401,
      "InvalidAuthenticationToken",
      /signature/,
    );
  });

  it("does not remember a refusal: a token refused before it is valid is accepted once it is", async () => {
    const start = Date.UTC(2026, 10, 30, 9);
    freezeClockAt(start);
    // Valid from 90 s on, less the 60 s skew: refused now, accepted 30 s later, well inside
    // the minute an accepted token would be remembered.
    const t = await token({ user: newUserId(), scopes: "Presence.Read", notBefore: 90 });
    await expectGraphError(
      await call(`/v1.0/me/presence`, { token: t }),
      401,
      "InvalidAuthenticationToken",
      /not valid yet/,
    );
    freezeClockAt(start + 30_000);
    expect((await call(`/v1.0/me/presence`, { token: t })).status).toBe(200);
  });
});

describe("permissions (spec 1.1)", () => {
  const me = newUserId();
  const other = newUserId();
  type Case = [string, () => Promise<string>, string, "read" | "write", number];
  const delegated = (scopes: string) => () => userToken(me, scopes);
  const app = (roles: string[]) => () => appToken(roles);

  const cases: Case[] = [
    ["Presence.Read reads /me", delegated("Presence.Read"), "/me/presence", "read", 200],
    ["Presence.Read reads itself by id", delegated("Presence.Read"), `/users/${me}/presence`, "read", 200],
    ["Presence.Read cannot read another user", delegated("Presence.Read"), `/users/${other}/presence`, "read", 403],
    [
      "Presence.Read.All reads another user",
      delegated("Presence.Read.All"),
      `/communications/presences/${other}`,
      "read",
      200,
    ],
    ["Presence.ReadWrite reads itself", delegated("Presence.ReadWrite"), "/me/presence", "read", 200],
    ["no presence scope cannot read", delegated("User.Read"), "/me/presence", "read", 403],
    ["Presence.ReadWrite writes itself", delegated("Presence.ReadWrite"), "/me/presence", "write", 200],
    ["Presence.ReadWrite writes itself by id", delegated("Presence.ReadWrite"), `/users/${me}/presence`, "write", 200],
    [
      "Presence.ReadWrite cannot write another user",
      delegated("Presence.ReadWrite Presence.Read.All"),
      `/users/${other}/presence`,
      "write",
      403,
    ],
    ["Presence.Read.All cannot write", delegated("Presence.Read.All"), "/me/presence", "write", 403],
    ["application Presence.Read.All reads anyone", app(["Presence.Read.All"]), `/users/${other}/presence`, "read", 200],
    [
      "application Presence.ReadWrite.All reads anyone",
      app(["Presence.ReadWrite.All"]),
      `/communications/presences/${other}`,
      "read",
      200,
    ],
    [
      "application Presence.ReadWrite.All writes anyone",
      app(["Presence.ReadWrite.All"]),
      `/users/${other}/presence`,
      "write",
      200,
    ],
    [
      "application Presence.Read.All cannot write",
      app(["Presence.Read.All"]),
      `/users/${other}/presence`,
      "write",
      403,
    ],
    ["an application without roles cannot read", app([]), `/users/${other}/presence`, "read", 403],
    // D24: Graph answers an application token on /me with 400.
    ["an application cannot use /me to read", app(["Presence.ReadWrite.All"]), "/me/presence", "read", 400],
    ["an application cannot use /me to write", app(["Presence.ReadWrite.All"]), "/me/presence", "write", 400],
  ];

  it.each(cases)("%s", async (_name, makeToken, path, kind, status) => {
    const t = await makeToken();
    const response =
      kind === "read"
        ? await call(`/v1.0${path}`, { token: t })
        : await call(`/v1.0${path}/setPresence`, { token: t, body: available });
    if (status === 403) {
      await expectGraphError(response, 403, "Forbidden");
    } else if (status === 400) {
      await expectGraphError(
        response,
        400,
        "BadRequest",
        "/me request is only valid with delegated authentication flow.",
      );
    } else {
      expect(response.status).toBe(status);
    }
  });

  it("a refused write changes nothing", async () => {
    const victim = newUserId();
    const before = await getPresence(`/v1.0/users/${victim}/presence`, await appToken(["Presence.Read.All"]));
    const attacker = await userToken(newUserId(), "Presence.ReadWrite Presence.Read.All");
    await expectGraphError(
      await call(`/v1.0/users/${victim}/presence/setStatusMessage`, {
        token: attacker,
        body: { statusMessage: { message: { content: "pwned" } } },
      }),
      403,
      "Forbidden",
    );
    expect(await getPresence(`/v1.0/users/${victim}/presence`, await appToken(["Presence.Read.All"]))).toEqual(before);
  });

  it("keeps tenants apart: the same user id in two tenants is two users", async () => {
    const user = newUserId();
    const tenantB = "99999999-9999-4999-8999-999999999999";
    await call(`/v1.0/me/presence/setPresence`, {
      token: await userToken(user),
      body: { ...available, availability: "Busy", activity: "InACall" },
    });
    const inB = await getPresence(
      `/v1.0/users/${user}/presence`,
      await appToken(["Presence.Read.All"], { tenant: tenantB }),
    );
    expect(inB).toMatchObject({ availability: "Offline", activity: "Offline" });
  });
});
