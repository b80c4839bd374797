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
  userToken,
} from "../helpers";

interface BatchResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: Record<string, unknown> & { error?: { code: string; message: string } };
}

const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

async function batch(requests: unknown[], tokenValue: string, version = "v1.0") {
  const response = await call(`/${version}/$batch`, { token: tokenValue, body: { requests } });
  return response;
}

async function batchResponses(requests: unknown[], tokenValue: string, version = "v1.0") {
  const response = await batch(requests, tokenValue, version);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`$batch: ${response.status} ${text}`);
  const { responses } = JSON.parse(text) as { responses: BatchResponse[] };
  return new Map(responses.map((r) => [r.id, r]));
}

const json = { "Content-Type": "application/json" };

describe("JSON batching (D22)", () => {
  it("runs reads and actions with relative URLs, with or without a leading slash, under v1.0 and beta", async () => {
    const user = newUserId();
    const t = await userToken(user);
    for (const version of ["v1.0", "beta"]) {
      const responses = await batchResponses(
        [
          {
            id: "1",
            method: "POST",
            url: "/me/presence/setStatusMessage",
            headers: json,
            body: { statusMessage: { message: { content: `batched ${version}`, contentType: "text" } } },
          },
          { id: "2", method: "GET", url: "me/presence", dependsOn: ["1"] },
          { id: "3", method: "GET", url: `/users/${user}/presence?$select=availability` },
        ],
        t,
        version,
      );
      expect(responses.get("1")).toMatchObject({ status: 200 });
      const read = responses.get("2");
      expect(read?.status).toBe(200);
      expect(read?.headers["Content-Type"]).toBe(ODATA_JSON);
      expect(read?.body).toMatchObject({
        "@odata.context": `https://presence.test/${version}/$metadata#users('${user}')/presence/$entity`,
        id: user,
        statusMessage: { message: { content: `batched ${version}` } },
      });
      expect(responses.get("3")?.body).toEqual({
        "@odata.context": `https://presence.test/${version}/$metadata#users('${user}')/presence(availability)/$entity`,
        id: user,
        availability: "Offline",
      });
    }
  });

  it("takes a url that starts with the version, as the official JS client sends it", async () => {
    const user = newUserId();
    const responses = await batchResponses(
      [
        { id: "1", method: "GET", url: "/v1.0/me/presence" },
        { id: "2", method: "GET", url: "/BETA/me/presence?$select=activity" },
      ],
      await userToken(user),
    );
    expect(responses.get("1")?.body?.id).toBe(user);
    expect(responses.get("2")?.body).toEqual({
      "@odata.context": `https://presence.test/beta/$metadata#users('${user}')/presence(activity)/$entity`,
      id: user,
      activity: "Offline",
    });
  });

  it("answers with the Graph JSON content type and per-response ids, statuses, headers and bodies", async () => {
    const t = await userToken(newUserId());
    const response = await batch([{ id: "a", method: "GET", url: "/me/presence" }], t);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(ODATA_JSON);
    const { responses } = (await response.json()) as { responses: BatchResponse[] };
    expect(responses).toHaveLength(1);
    expect(responses[0]).toMatchObject({ id: "a", status: 200 });
    expect(responses[0]?.headers["Request-Id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("runs dependent requests in order and fails the dependants of a failed request with 424", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const set = (id: string, content: string, dependsOn?: string[]) => ({
      id,
      method: "POST",
      url: "/me/presence/setStatusMessage",
      headers: json,
      body: { statusMessage: { message: { content } } },
      ...(dependsOn ? { dependsOn } : {}),
    });
    // Declared out of order: 3 runs after 2, which runs after 1, so "third" is the last write.
    const responses = await batchResponses([set("3", "third", ["2"]), set("1", "first"), set("2", "second", ["1"])], t);
    expect([...responses.values()].map((r) => r.status)).toEqual([200, 200, 200]);
    const seen = await getPresence("/v1.0/me/presence", t);
    expect(seen.statusMessage?.message.content).toBe("third");

    const failing = await batchResponses(
      [
        { id: "1", method: "POST", url: "/me/presence/setPresence", headers: json, body: { sessionId: "nope" } },
        set("2", "never", ["1"]),
        set("3", "never either", ["2"]),
        { id: "4", method: "GET", url: "/me/presence" },
      ],
      t,
    );
    expect(failing.get("1")?.status).toBe(400);
    expect(failing.get("2")?.status).toBe(424);
    expect(failing.get("2")?.body?.error?.code).toBe("FailedDependency");
    expect(failing.get("3")?.status).toBe(424);
    expect(failing.get("4")?.status).toBe(200);
    expect((await getPresence("/v1.0/me/presence", t)).statusMessage?.message.content).toBe("third");
  });

  it("authorises each request: the batch's token unless the request sends its own", async () => {
    const me = newUserId();
    const other = newUserId();
    const mine = await userToken(me);
    const theirs = await userToken(other);
    const responses = await batchResponses(
      [
        { id: "mine", method: "GET", url: "/me/presence" },
        { id: "theirs", method: "GET", url: "/me/presence", headers: { Authorization: `Bearer ${theirs}` } },
        { id: "broken", method: "GET", url: "/me/presence", headers: { authorization: "Bearer not-a-token" } },
        // Writing someone else's presence with a delegated token is refused, as it is alone.
        {
          id: "forbidden",
          method: "POST",
          url: `/users/${other}/presence/setUserPreferredPresence`,
          headers: json,
          body: { availability: "Busy", activity: "Busy" },
        },
      ],
      mine,
    );
    expect(responses.get("mine")?.body?.id).toBe(me);
    expect(responses.get("theirs")?.body?.id).toBe(other);
    expect(responses.get("broken")?.status).toBe(401);
    expect(responses.get("broken")?.body?.error?.code).toBe("InvalidAuthenticationToken");
    expect(responses.get("forbidden")?.status).toBe(403);
    expect((await getPresence("/v1.0/me/presence", theirs)).availability).toBe("Offline");
  });

  it("throttles each request as if sent alone: a 429 inside carries its own Retry-After", async () => {
    freezeClockAt(Date.parse("2031-01-01T00:00:00Z"));
    try {
      // A tenant of its own, so that the small limit is this test's alone.
      const tenant = crypto.randomUUID();
      const t = await appToken(["Presence.Read.All"], { tenant });
      const requests = Array.from({ length: 5 }, (_, i) => ({
        id: String(i),
        method: "GET",
        url: `/users/${newUserId()}/presence`,
      }));
      const response = await callWith({ THROTTLE_READS_PER_30S: "3" }, "/v1.0/$batch", {
        token: t,
        body: { requests },
      });
      expect(response.status).toBe(200);
      const { responses } = (await response.json()) as { responses: BatchResponse[] };
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      for (const r of responses.filter((x) => x.status === 429)) {
        expect(r.headers["Retry-After"]).toMatch(/^\d+$/);
        expect(r.body?.error?.code).toBe("TooManyRequests");
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a nested $batch request inside the batch", async () => {
    const t = await userToken(newUserId());
    const responses = await batchResponses(
      [
        { id: "1", method: "POST", url: "/$batch", headers: json, body: { requests: [] } },
        { id: "2", method: "POST", url: "$Batch", headers: json, body: { requests: [] } },
        { id: "3", method: "GET", url: "/me/presence" },
      ],
      t,
    );
    for (const id of ["1", "2"]) {
      expect(responses.get(id)?.status).toBe(400);
      expect(responses.get(id)?.body?.error?.message).toMatch(/\$batch/);
    }
    expect(responses.get("3")?.status).toBe(200);
  });

  it("refuses a request that would open a watch socket inside the batch", async () => {
    const responses = await batchResponses(
      [{ id: "1", method: "GET", url: "/me/presence/watch", headers: { Upgrade: "websocket" } }],
      await userToken(newUserId()),
    );
    expect(responses.get("1")?.status).toBe(400);
    expect(responses.get("1")?.body?.error?.message).toMatch(/WebSocket/);
  });

  it("keeps a request inside the API: a URL that climbs out of the version is refused", async () => {
    const t = await userToken(newUserId());
    const responses = await batchResponses(
      [{ id: "1", method: "POST", url: "../dev/token", headers: json, body: {} }],
      t,
    );
    expect(responses.get("1")?.status).toBe(400);
  });

  const malformed: [string, unknown, RegExp][] = [
    [
      "21 requests",
      { requests: Array.from({ length: 21 }, (_, i) => ({ id: `${i}`, method: "GET", url: "/me/presence" })) },
      /20/,
    ],
    ["no requests", { requests: [] }, /at least one/],
    ["no requests property", {}, /requests/],
    [
      "duplicate ids (ids are not case-sensitive)",
      {
        requests: [
          { id: "a", method: "GET", url: "/me/presence" },
          { id: "A", method: "GET", url: "/me/presence" },
        ],
      },
      /'A'.*unique|unique.*'A'/,
    ],
    ["a request without an id", { requests: [{ method: "GET", url: "/me/presence" }] }, /id/],
    ["a request without a method", { requests: [{ id: "1", url: "/me/presence" }] }, /method/],
    ["a request without a url", { requests: [{ id: "1", method: "GET" }] }, /url/],
    [
      "an absolute url",
      { requests: [{ id: "1", method: "GET", url: "https://graph.microsoft.com/v1.0/me/presence" }] },
      /relative/,
    ],
    [
      "a body without a Content-Type header",
      { requests: [{ id: "1", method: "POST", url: "/me/presence/setStatusMessage", body: { statusMessage: null } }] },
      /Content-Type/,
    ],
    [
      "a dependency on an unknown id",
      { requests: [{ id: "1", method: "GET", url: "/me/presence", dependsOn: ["9"] }] },
      /'9'/,
    ],
    [
      "a dependency cycle",
      {
        requests: [
          { id: "1", method: "GET", url: "/me/presence", dependsOn: ["2"] },
          { id: "2", method: "GET", url: "/me/presence", dependsOn: ["1"] },
        ],
      },
      /cycle/,
    ],
    ["an unknown property", { requests: [{ id: "1", method: "GET", url: "/me/presence", colour: "red" }] }, /colour/],
  ];

  it.each(malformed)("refuses a batch with %s with 400, running nothing", async (_what, body, message) => {
    const user = newUserId();
    const t = await userToken(user);
    const before = await getPresence("/v1.0/me/presence", t);
    const response = await call("/v1.0/$batch", { token: t, body });
    await expectGraphError(response, 400, "BadRequest", message);
    expect(await getPresence("/v1.0/me/presence", t)).toEqual(before);
  });

  it("needs a token for the batch itself, and takes only POST", async () => {
    await expectGraphError(
      await call("/v1.0/$batch", { body: { requests: [{ id: "1", method: "GET", url: "/me/presence" }] } }),
      401,
      "InvalidAuthenticationToken",
    );
    const response = await call("/v1.0/$batch", { token: await userToken(newUserId()) });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("a request of the batch counts for the caller's app like a single one", async () => {
    const user = newUserId();
    const responses = await batchResponses(
      [
        {
          id: "1",
          method: "POST",
          url: `/users/${user}/presence/setPresence`,
          headers: json,
          body: { sessionId: APP, availability: "Busy", activity: "InACall" },
        },
      ],
      await appToken(),
    );
    expect(responses.get("1")?.status).toBe(200);
    expect((await getPresence(`/v1.0/users/${user}/presence`, await appToken(["Presence.Read.All"]))).activity).toBe(
      "InACall",
    );
  });
});

afterEach(() => {
  vi.useRealTimers();
});
