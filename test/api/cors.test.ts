import { describe, expect, it } from "vitest";
import { commaSeparated } from "../../src/config";
import type { Env } from "../../src/env";
import { isAllowedOrigin } from "../../src/http/cors";
import { callWith, newUserId, userToken } from "../helpers";

const CORS: Partial<Env> = { CORS_ORIGINS: "http://localhost:*, https://app.contoso.com, https://*.contoso.net" };

function preflight(origin: string, bindings: Partial<Env> = CORS) {
  return callWith(bindings, "/v1.0/me/presence/setPresence", {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
}

const corsHeaders = (response: Response) =>
  [...response.headers.keys()].filter((name) => name.toLowerCase().startsWith("access-control-"));

describe("CORS", () => {
  it("answers a preflight from an allowed origin with 204 and the CORS headers, without a token", async () => {
    const response = await preflight("http://localhost:5173");
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    expect(response.headers.get("access-control-allow-headers")).toMatch(/Authorization.*Content-Type/);
    expect(response.headers.get("access-control-max-age")).toBe("7200");
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it.each([
    "https://evil.example",
    "http://localhost.evil.example:80",
    "https://app.contoso.com.evil.example",
    "https://a.b.contoso.net",
    "https://contoso.net",
    "null",
  ])("answers a preflight from %s without any CORS header", async (origin) => {
    const response = await preflight(origin);
    expect(response.status).toBe(204);
    expect(corsHeaders(response)).toEqual([]);
  });

  it("allows no origin at all when CORS_ORIGINS is unset", async () => {
    expect(corsHeaders(await preflight("http://localhost:5173", { CORS_ORIGINS: undefined }))).toEqual([]);
  });

  it("matches origins exactly, with * for one host label or a port", () => {
    const setting = commaSeparated(CORS.CORS_ORIGINS);
    expect(isAllowedOrigin("http://localhost:8787", setting)).toBe(true);
    expect(isAllowedOrigin("http://LOCALHOST:3000", setting)).toBe(true);
    expect(isAllowedOrigin("http://localhost", setting)).toBe(false);
    expect(isAllowedOrigin("https://localhost:5173", setting)).toBe(false);
    expect(isAllowedOrigin("https://app.contoso.com", setting)).toBe(true);
    expect(isAllowedOrigin("https://app.contoso.com:444", setting)).toBe(false);
    expect(isAllowedOrigin("https://teams.contoso.net", setting)).toBe(true);
    expect(isAllowedOrigin("https://appXcontoso.com", setting)).toBe(false);
  });

  it("lets an allowed page read answers and errors, and tells nothing to another page", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const ok = await callWith(CORS, "/v1.0/me/presence", { token: t, headers: { origin: "https://app.contoso.com" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.contoso.com");
    expect(ok.headers.get("access-control-expose-headers")).toMatch(/request-id.*Retry-After/);
    expect(ok.headers.get("vary")).toContain("Origin");

    const refused = await callWith(CORS, "/v1.0/me/presence", { headers: { origin: "https://app.contoso.com" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.contoso.com");

    const tooLong = await callWith(CORS, `/v1.0/users/${"a".repeat(5000)}/presence`, {
      headers: { origin: "https://app.contoso.com" },
    });
    expect(tooLong.status).toBe(414);
    expect(tooLong.headers.get("access-control-allow-origin")).toBe("https://app.contoso.com");

    const other = await callWith(CORS, "/v1.0/me/presence", { token: t, headers: { origin: "https://evil.example" } });
    expect(other.status).toBe(200);
    expect(corsHeaders(other)).toEqual([]);
  });
});
