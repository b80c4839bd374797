import { env } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/app";
import DEV_IDENTITY from "../../src/dev/identity.json";
import type { Env } from "../../src/env";
import { call, expectGraphError, newUserId } from "../helpers";

const SCOPES = "Presence.Read Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite";

async function devToken(body?: unknown): Promise<string> {
  const response = await call("/dev/token", { method: "POST", body });
  expect(response.status).toBe(200);
  const answer = (await response.json()) as Record<string, unknown>;
  expect(answer).toMatchObject({ token_type: "Bearer", expires_in: 3600, scope: SCOPES });
  return answer.access_token as string;
}

describe("POST /dev/token with DEV_MODE and the local secret (as in .dev.vars)", () => {
  it("mints a delegated token for the dev user by default, accepted by the API", async () => {
    const token = await devToken();
    expect(decodeJwt(token)).toMatchObject({
      tid: DEV_IDENTITY.tenant,
      oid: DEV_IDENTITY.user,
      appid: DEV_IDENTITY.app,
      scp: SCOPES,
    });
    const presence = await call("/v1.0/me/presence", { token });
    expect(presence.status).toBe(200);
    expect(await presence.json()).toMatchObject({ id: DEV_IDENTITY.user });
  });

  it("mints one for the user the page names, who may then change their own presence", async () => {
    const user = newUserId();
    const token = await devToken({ userId: user.toUpperCase() });
    expect(decodeJwt(token).oid).toBe(user);
    const set = await call("/v1.0/me/presence/setStatusMessage", {
      token,
      body: { statusMessage: { message: { content: "From the board" } } },
    });
    expect(set.status).toBe(200);
  });

  it("refuses a user id that is not a GUID, and unknown parameters", async () => {
    await expectGraphError(await call("/dev/token", { body: { userId: "alice" } }), 400, "BadRequest", "GUID");
    await expectGraphError(await call("/dev/token", { body: { roles: ["x"] } }), 400, "BadRequest", "roles");
  });

  it("answers other methods with 405", async () => {
    const response = await call("/dev/token");
    expect(response.headers.get("allow")).toBe("POST");
    await expectGraphError(response, 405, "MethodNotAllowed");
  });
});

describe("without DEV_MODE (any deployed configuration) there is no dev token endpoint", () => {
  const app = buildApp();
  const withBindings = (bindings: Partial<Env>) => ({ ...env, ...bindings }) as Env;

  it.each([
    ["DEV_MODE unset", { DEV_MODE: undefined }],
    ["DEV_MODE not exactly 'true'", { DEV_MODE: "1" }],
    ["no HS256 secret", { AUTH_HS256_SECRET: undefined }],
  ])("%s: 404 like any unknown route, for every method", async (_what, bindings) => {
    for (const method of ["POST", "GET"]) {
      const response = await app.fetch(
        new Request("https://presence.test/dev/token", { method }),
        withBindings(bindings),
      );
      await expectGraphError(response, 404, "NotFound", "No resource at '/dev/token'");
    }
  });
});

describe("GET /board/settings tells the presence board whether dev tokens exist, always with a 200", () => {
  // The board asks on every load; an error answer would be a red line in the browser's console.
  const app = buildApp();
  const withBindings = (bindings: Partial<Env>) => ({ ...env, ...bindings }) as Env;
  const settings = async (bindings: Partial<Env>) => {
    const response = await app.fetch(new Request("https://presence.test/board/settings"), withBindings(bindings));
    expect(response.status).toBe(200);
    return response.json();
  };

  it("says yes in local development (DEV_MODE and the local secret)", async () => {
    expect(await settings({})).toEqual({ devTokens: true });
  });

  it("says no in a deployed configuration", async () => {
    expect(await settings({ DEV_MODE: undefined })).toEqual({ devTokens: false });
    expect(await settings({ AUTH_HS256_SECRET: undefined })).toEqual({ devTokens: false });
  });
});
