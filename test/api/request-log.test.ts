import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_URL_LENGTH } from "../../src/http/limits";
import { APP, appToken, call, callWith, newUserId, TENANT, userToken } from "../helpers";

interface LogLine {
  level: string;
  message: string;
  requestId: string;
  tenant: string | null;
  app: string | null;
  method: string;
  route: string;
  status: number;
  durationMs: number;
}

/** Runs `fn` and returns the request lines the Worker logged meanwhile, and everything it logged at all. */
async function logsOf(fn: () => Promise<unknown>): Promise<{ lines: LogLine[]; everything: string }> {
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  await fn();
  const printed = log.mock.calls.map((args) => args.map(String).join(" "));
  log.mockRestore();
  const lines = printed
    .map((text) => {
      try {
        return JSON.parse(text) as LogLine;
      } catch {
        return undefined;
      }
    })
    .filter((line): line is LogLine => line?.message === "request");
  return { lines, everything: printed.join("\n") };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("request log", () => {
  it("writes one line per request with request id, tenant, app, route, status and duration", async () => {
    const user = newUserId();
    const t = await userToken(user);
    let response: Response | undefined;
    const { lines } = await logsOf(async () => {
      response = await call(`/v1.0/users/${user}/presence`, { token: t });
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({
      level: "info",
      message: "request",
      requestId: response?.headers.get("request-id"),
      tenant: TENANT,
      app: APP,
      method: "GET",
      route: "/v1.0/users/:id/presence",
      status: 200,
      durationMs: expect.any(Number),
    });
    expect(lines[0]?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("logs refusals too: no caller before the token is verified, and the path without its query", async () => {
    const { lines } = await logsOf(async () => {
      await call("/v1.0/me/presence?access_token=secret-in-query");
      await call(`/v1.0/users/${newUserId()}/presence/setPresence`, {
        token: await appToken(["Presence.Read.All"]),
        body: { sessionId: APP, availability: "Available", activity: "Available" },
      });
      await call("/v1.0/nowhere");
      await callWith({ CORS_ORIGINS: "http://localhost:*" }, "/v1.0/me/presence", {
        method: "OPTIONS",
        headers: { origin: "http://localhost:3000", "access-control-request-method": "GET" },
      });
    });
    expect(lines.map(({ tenant, app, method, route, status }) => ({ tenant, app, method, route, status }))).toEqual([
      { tenant: null, app: null, method: "GET", route: "/v1.0/me/presence", status: 401 },
      { tenant: TENANT, app: APP, method: "POST", route: "/v1.0/users/:id/presence/setPresence", status: 403 },
      { tenant: null, app: null, method: "GET", route: "/v1.0/nowhere", status: 404 },
      { tenant: null, app: null, method: "OPTIONS", route: "/v1.0/me/presence", status: 204 },
    ]);
  });

  it("never logs tokens or message contents", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const secretText = `very private status ${crypto.randomUUID()}`;
    const { lines, everything } = await logsOf(async () => {
      await call("/v1.0/me/presence/setStatusMessage", {
        token: t,
        body: { statusMessage: { message: { content: secretText } } },
      });
      await call("/v1.0/me/presence/setStatusMessage", { token: t, body: { statusMessage: { oops: secretText } } });
      await call("/v1.0/me/presence", { token: t });
    });
    expect(lines.map((line) => line.status)).toEqual([200, 400, 200]);
    expect(everything).not.toContain(t);
    expect(everything).not.toContain(t.split(".")[2]);
    expect(everything).not.toContain(secretText);
  });

  it("cuts a token, or any long opaque segment, out of a path that matched no route", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const opaque = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA";
    const { lines, everything } = await logsOf(async () => {
      await call(`/v1.0/users/${t}/presense`, { token: t });
      await call(`/v1.0/${opaque}/microsoft.graph.getPresencesByUserIdd`);
      await call(`/v1.0/users/${user}/presense`);
      await callWith({ CORS_ORIGINS: "http://localhost:*" }, `/v1.0/me/${t}`, {
        method: "OPTIONS",
        headers: { origin: "http://localhost:3000", "access-control-request-method": "GET" },
      });
      await call(`/v1.0/${t}/${"x".repeat(MAX_URL_LENGTH)}`);
    });
    expect(lines.map(({ route, status }) => ({ route, status }))).toEqual([
      { route: "/v1.0/users/…/presense", status: 404 },
      { route: "/v1.0/…/microsoft.graph.getPresencesByUserIdd", status: 404 },
      { route: `/v1.0/users/${user}/presense`, status: 404 },
      { route: "/v1.0/me/…", status: 204 },
      { route: "/v1.0/…/…", status: 414 },
    ]);
    for (const part of t.split(".")) expect(everything).not.toContain(part);
    expect(everything).not.toContain(opaque);
  });
});
