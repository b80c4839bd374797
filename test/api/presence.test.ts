import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  APP,
  appToken,
  call,
  expectGraphError,
  freezeClockAt,
  getPresence,
  newUserId,
  OTHER_APP,
  userObject,
  userToken,
} from "../helpers";

const MIN = 60_000;

afterEach(() => {
  vi.useRealTimers();
});

const paths = (user: string) => [
  `/v1.0/me/presence`,
  `/v1.0/users/${user}/presence`,
  `/v1.0/communications/presences/${user}`,
  `/beta/me/presence`,
  `/beta/users/${user}/presence`,
  `/beta/communications/presences/${user}`,
];

async function act(user: string, action: string, body: unknown, token?: string, base = `/v1.0/users/${user}/presence`) {
  return call(`${base}/${action}`, { method: "POST", token: token ?? (await userToken(user)), body });
}

const available = { sessionId: APP, availability: "Available", activity: "Available" };

describe("GET presence", () => {
  it("answers a user nobody has written as Offline (D3), under every path and version", async () => {
    const user = newUserId();
    const t = await userToken(user);
    for (const path of paths(user)) {
      const body = await getPresence(path, t);
      expect(body).toMatchObject({
        id: user,
        availability: "Offline",
        activity: "Offline",
        statusMessage: null,
        outOfOfficeSettings: { message: null, isOutOfOffice: false },
        workLocation: { workLocationType: "unspecified", source: "none", placeId: null },
        sequenceNumber: "00000000000000000000",
      });
      const version = path.startsWith("/beta") ? "beta" : "v1.0";
      expect(body["@odata.context"]).toBe(
        path.includes("communications")
          ? `https://presence.test/${version}/$metadata#communications/presences/$entity`
          : `https://presence.test/${version}/$metadata#users('${user}')/presence/$entity`,
      );
    }
  });

  it("creates no storage when reading a user nobody has written", async () => {
    const user = newUserId();
    await getPresence(`/v1.0/users/${user}/presence`, await userToken(user));
    const tables = await runInDurableObject(userObject(user), (_instance, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray(),
    );
    expect(tables).toEqual([]);
  });

  it("matches user ids case-insensitively and answers them lower-case (D2)", async () => {
    const user = newUserId();
    expect((await act(user, "setPresence", available)).status).toBe(200);
    const body = await getPresence(`/v1.0/users/${user.toUpperCase()}/presence`, await userToken(user));
    expect(body.id).toBe(user);
    expect(body.availability).toBe("Available");
  });

  it("sends request-id and echoes client-request-id", async () => {
    const user = newUserId();
    const response = await call(`/v1.0/me/presence`, {
      token: await userToken(user),
      headers: { "client-request-id": "my-trace-42" },
    });
    expect(response.headers.get("client-request-id")).toBe("my-trace-42");
    expect(response.headers.get("request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("rejects a user id that is not a GUID with 400", async () => {
    const user = newUserId();
    await expectGraphError(
      await call(`/v1.0/users/someone@contoso.com/presence`, { token: await userToken(user) }),
      400,
      "BadRequest",
      "not a valid user id",
    );
  });
});

describe("setPresence and clearPresence", () => {
  it("works under all three paths and both versions, answering 200 with an empty body", async () => {
    for (const base of ["/v1.0/me/presence", "/beta/users/{id}/presence", "/v1.0/communications/presences/{id}"]) {
      const user = newUserId();
      const t = await userToken(user);
      const response = await act(
        user,
        "setPresence",
        { ...available, availability: "Busy", activity: "InACall" },
        t,
        base.replace("{id}", user),
      );
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("");
      expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({ availability: "Busy", activity: "InACall" });
      const cleared = await act(user, "clearPresence", { sessionId: APP }, t, base.replace("{id}", user));
      expect(cleared.status).toBe(200);
      expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({ availability: "Offline", activity: "Offline" });
    }
  });

  it("accepts the namespace-qualified action name and any casing of values", async () => {
    const user = newUserId();
    const response = await act(user, "microsoft.graph.setPresence", {
      ...available,
      availability: "donotdisturb",
      activity: "PRESENTING",
    });
    expect(response.status).toBe(200);
    expect(await getPresence(`/v1.0/me/presence`, await userToken(user))).toMatchObject({
      availability: "DoNotDisturb",
      activity: "Presenting",
    });
  });

  it("aggregates the sessions of several applications by rank (D4)", async () => {
    const user = newUserId();
    const app1 = await appToken(["Presence.ReadWrite.All"], { app: APP });
    const app2 = await appToken(["Presence.ReadWrite.All"], { app: OTHER_APP });
    expect(
      (await act(user, "setPresence", { ...available, availability: "Busy", activity: "InACall" }, app1)).status,
    ).toBe(200);
    expect(
      (await act(user, "setPresence", { sessionId: OTHER_APP, availability: "Available", activity: "Available" }, app2))
        .status,
    ).toBe(200);
    const owner = await userToken(user);
    expect(await getPresence(`/v1.0/me/presence`, owner)).toMatchObject({ availability: "Busy", activity: "InACall" });
    expect((await act(user, "clearPresence", { sessionId: APP }, app1)).status).toBe(200);
    expect(await getPresence(`/v1.0/me/presence`, owner)).toMatchObject({
      availability: "Available",
      activity: "Available",
    });
  });

  it("clearPresence for a session that does not exist is 404", async () => {
    const user = newUserId();
    await expectGraphError(
      await act(user, "clearPresence", { sessionId: APP }),
      404,
      "NotFound",
      "no presence session",
    );
    expect((await act(user, "setPresence", available)).status).toBe(200);
    expect((await act(user, "clearPresence", { sessionId: APP })).status).toBe(200);
    await expectGraphError(await act(user, "clearPresence", { sessionId: APP }), 404, "NotFound");
  });
});

describe("bad input changes nothing", () => {
  async function setUp() {
    const user = newUserId();
    const t = await userToken(user);
    expect((await act(user, "setPresence", { ...available, expirationDuration: "PT1H" }, t)).status).toBe(200);
    expect((await act(user, "setStatusMessage", { statusMessage: { message: { content: "hello" } } }, t)).status).toBe(
      200,
    );
    return { user, t, before: await getPresence(`/v1.0/me/presence`, t) };
  }

  const cases: [string, string, unknown, number, string, RegExp][] = [
    [
      "setPresence",
      "sessionId of another app",
      { ...available, sessionId: OTHER_APP },
      400,
      "BadRequest",
      /calling application's id/,
    ],
    ["setPresence", "an invalid pair", { ...available, activity: "Busy" }, 400, "BadRequest", /Valid combinations/],
    [
      "setPresence",
      "Busy/Busy",
      { ...available, availability: "Busy", activity: "Busy" },
      400,
      "BadRequest",
      /not supported/,
    ],
    [
      "setPresence",
      "a duration under PT5M",
      { ...available, expirationDuration: "PT4M" },
      400,
      "BadRequest",
      /out of range/,
    ],
    [
      "setPresence",
      "a duration over PT4H",
      { ...available, expirationDuration: "PT5H" },
      400,
      "BadRequest",
      /out of range/,
    ],
    [
      "setPresence",
      "a duration that is not ISO 8601",
      { ...available, expirationDuration: "5m" },
      400,
      "BadRequest",
      /ISO 8601/,
    ],
    [
      "setPresence",
      "an unknown parameter",
      { ...available, availabilty: "Busy" },
      400,
      "BadRequest",
      /Unknown parameter 'availabilty'/,
    ],
    [
      "setPresence",
      "a missing parameter",
      { sessionId: APP, availability: "Available" },
      400,
      "BadRequest",
      /Missing required parameter 'activity'/,
    ],
    [
      "setPresence",
      "a wrong type",
      { ...available, availability: 3 },
      400,
      "BadRequest",
      /'availability' has the wrong type/,
    ],
    ["setPresence", "an array body", [available], 400, "BadRequest", /must be a JSON object/],
    [
      "setPresence",
      "a client-set sequenceNumber",
      { ...available, sequenceNumber: "9" },
      400,
      "BadRequest",
      /Unknown parameter 'sequenceNumber'/,
    ],
    ["clearPresence", "another app's session", { sessionId: OTHER_APP }, 400, "BadRequest", /calling application's id/],
    [
      "setUserPreferredPresence",
      "a session-only pair",
      { availability: "Busy", activity: "InACall" },
      400,
      "BadRequest",
      /Valid combinations/,
    ],
    [
      "setUserPreferredPresence",
      "a duration over P7D",
      { availability: "Busy", activity: "Busy", expirationDuration: "P8D" },
      400,
      "BadRequest",
      /PT5M and P7D/,
    ],
    [
      "clearUserPreferredPresence",
      "an unknown parameter",
      { force: true },
      400,
      "BadRequest",
      /Unknown parameter 'force'/,
    ],
    [
      "setStatusMessage",
      "html content",
      { statusMessage: { message: { content: "<b>x</b>", contentType: "html" } } },
      400,
      "BadRequest",
      /only 'text'/,
    ],
    [
      "setStatusMessage",
      "281 characters",
      { statusMessage: { message: { content: "x".repeat(281) } } },
      400,
      "BadRequest",
      /at most 280/,
    ],
    [
      "setStatusMessage",
      "an unknown zone",
      {
        statusMessage: {
          message: { content: "x" },
          expiryDateTime: { dateTime: "2099-01-01T00:00:00", timeZone: "Moon/Base" },
        },
      },
      400,
      "BadRequest",
      /not a known time zone/,
    ],
    [
      "setStatusMessage",
      "an offset in dateTime",
      {
        statusMessage: {
          message: { content: "x" },
          expiryDateTime: { dateTime: "2099-01-01T00:00:00+01:00", timeZone: "Europe/Berlin" },
        },
      },
      400,
      "BadRequest",
      /must not carry an offset/,
    ],
    ["setStatusMessage", "no statusMessage", {}, 400, "BadRequest", /Missing required parameter 'statusMessage'/],
    [
      "setStatusMessage",
      "a nested unknown parameter",
      { statusMessage: { message: { content: "x", colour: "red" } } },
      400,
      "BadRequest",
      /Unknown parameter 'statusMessage.message.colour'/,
    ],
  ];

  it.each(cases)("%s with %s is refused", async (action, _what, body, status, code, message) => {
    const { user, t, before } = await setUp();
    await expectGraphError(await act(user, action, body, t), status, code, message);
    expect(await getPresence(`/v1.0/me/presence`, t)).toEqual(before);
  });

  it.each([
    ["not JSON", "{oops", "application/json", 400, "BadRequest", /not valid JSON/],
    ["a form body", "a=b", "application/x-www-form-urlencoded", 415, "UnsupportedMediaType", /application\/json/],
    [
      "a body over 64 KiB",
      JSON.stringify({ ...available, pad: "x".repeat(70_000) }),
      "application/json",
      413,
      "RequestEntityTooLarge",
      /larger than 65536/,
    ],
  ])("setPresence with %s is refused", async (_what, rawBody, contentType, status, code, message) => {
    const { t, before } = await setUp();
    const response = await call(`/v1.0/me/presence/setPresence`, {
      token: t,
      rawBody,
      headers: { "content-type": contentType },
    });
    await expectGraphError(response, status, code, message);
    expect(await getPresence(`/v1.0/me/presence`, t)).toEqual(before);
  });

  it("ignores @odata.type and other annotations (D11)", async () => {
    const user = newUserId();
    const response = await act(user, "setStatusMessage", {
      "@odata.type": "#microsoft.graph.presenceStatusMessage",
      statusMessage: {
        "@odata.type": "#microsoft.graph.presenceStatusMessage",
        message: { "@odata.type": "#microsoft.graph.itemBody", content: "annotated", contentType: "text" },
      },
    });
    expect(response.status).toBe(200);
    const body = await getPresence(`/v1.0/me/presence`, await userToken(user));
    expect(body.statusMessage).toMatchObject({ message: { content: "annotated", contentType: "text" } });
  });
});

describe("sequenceNumber (D10)", () => {
  it("increases, as a string, on every visible change and only then", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const seen = [(await getPresence(`/v1.0/me/presence`, t)).sequenceNumber];
    const next = async () => {
      const s = (await getPresence(`/v1.0/me/presence`, t)).sequenceNumber;
      seen.push(s);
      return s;
    };
    await act(user, "setPresence", { ...available, expirationDuration: "PT1H" }, t);
    await next();
    // Refreshing the same session changes nothing a reader can see.
    await act(user, "setPresence", { ...available, expirationDuration: "PT1H" }, t);
    expect(await next()).toBe(seen.at(-2));
    await act(user, "setUserPreferredPresence", { availability: "Busy", activity: "Busy" }, t);
    await next();
    await act(user, "setStatusMessage", { statusMessage: { message: { content: "hi" } } }, t);
    await next();
    await act(user, "clearUserPreferredPresence", undefined, t);
    await next();
    const distinct = [...new Set(seen)];
    expect(distinct).toHaveLength(5);
    expect([...distinct].sort()).toEqual(distinct);
    expect(distinct.every((s) => /^\d{20}$/.test(s))).toBe(true);
  });
});

describe("preferred presence", () => {
  it("overrides sessions, shows Offline without one, and clears idempotently", async () => {
    const user = newUserId();
    const t = await userToken(user);
    expect((await act(user, "clearUserPreferredPresence", undefined, t)).status).toBe(200);
    expect(
      (await act(user, "setUserPreferredPresence", { availability: "DoNotDisturb", activity: "DoNotDisturb" }, t))
        .status,
    ).toBe(200);
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({ availability: "Offline", activity: "Offline" });
    await act(user, "setPresence", { ...available, expirationDuration: "PT1H" }, t);
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({
      availability: "DoNotDisturb",
      activity: "DoNotDisturb",
    });
    expect((await act(user, "clearUserPreferredPresence", {}, t)).status).toBe(200);
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({
      availability: "Available",
      activity: "Available",
    });
  });
});

describe("status message", () => {
  it("shows expiry and publication to the owner, only the message to others (D9)", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const response = await act(
      user,
      "setStatusMessage",
      {
        statusMessage: {
          message: { content: "In Seattle", contentType: "text" },
          expiryDateTime: { dateTime: "2099-07-01T09:00:00.0000000", timeZone: "Pacific Standard Time" },
        },
      },
      t,
    );
    expect(response.status).toBe(200);
    const own = await getPresence(`/v1.0/me/presence`, t);
    expect(own.statusMessage).toMatchObject({
      message: { content: "In Seattle", contentType: "text" },
      expiryDateTime: { dateTime: "2099-07-01T16:00:00.0000000", timeZone: "UTC" },
    });
    expect(Date.parse((own.statusMessage as { publishedDateTime: string }).publishedDateTime)).toBeGreaterThan(
      Date.now() - MIN,
    );
    const reader = await userToken(newUserId(), "Presence.Read.All");
    const theirs = await getPresence(`/v1.0/users/${user}/presence`, reader);
    expect(theirs.statusMessage).toEqual({ message: { content: "In Seattle", contentType: "text" } });
    const app = await getPresence(`/v1.0/users/${user}/presence`, await appToken(["Presence.Read.All"]));
    expect(app.statusMessage).toEqual({ message: { content: "In Seattle", contentType: "text" } });
  });

  it.each([
    ["statusMessage null", { statusMessage: null }],
    ["message null", { statusMessage: { message: null } }],
    ["empty content", { statusMessage: { message: { content: "", contentType: "text" } } }],
  ])("is cleared by %s (D8)", async (_what, body) => {
    const user = newUserId();
    const t = await userToken(user);
    await act(user, "setStatusMessage", { statusMessage: { message: { content: "x" } } }, t);
    expect((await getPresence(`/v1.0/me/presence`, t)).statusMessage).not.toBeNull();
    expect((await act(user, "setStatusMessage", body, t)).status).toBe(200);
    expect((await getPresence(`/v1.0/me/presence`, t)).statusMessage).toBeNull();
  });
});

describe("deadlines fire through the alarm", () => {
  it("fades an Available session to idle, then away, then expires it, bumping sequenceNumber each time", async () => {
    const t0 = Date.UTC(2030, 0, 1, 12, 0, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, undefined, { expiresIn: 86_400 });
    await act(user, "setPresence", { ...available, expirationDuration: "PT20M" }, t);
    const stub = userObject(user);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 5 * MIN);
    const first = await getPresence(`/v1.0/me/presence`, t);

    freezeClockAt(t0 + 5 * MIN);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // Reads at the alarm's own time: what the alarm stored is what a reader sees.
    const idle = await getPresence(`/v1.0/me/presence`, t);
    expect(idle).toMatchObject({ availability: "AvailableIdle", activity: "Inactive" });
    expect(idle.sequenceNumber > first.sequenceNumber).toBe(true);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 10 * MIN);

    freezeClockAt(t0 + 10 * MIN);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const away = await getPresence(`/v1.0/me/presence`, t);
    expect(away).toMatchObject({ availability: "Away", activity: "Away" });
    expect(away.sequenceNumber > idle.sequenceNumber).toBe(true);

    freezeClockAt(t0 + 20 * MIN);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const gone = await getPresence(`/v1.0/me/presence`, t);
    expect(gone).toMatchObject({ availability: "Offline", activity: "Offline" });
    expect(gone.sequenceNumber > away.sequenceNumber).toBe(true);
    // Nothing is due any more: no alarm keeps the object awake.
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBeNull();
  });

  it("bumps sequenceNumber in the alarm itself, with no request", async () => {
    const t0 = Date.UTC(2030, 0, 2, 12, 0, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, undefined, { expiresIn: 86_400 });
    await act(user, "setPresence", { ...available, availability: "Busy", activity: "InACall" }, t);
    const stub = userObject(user);
    const readSequence = () =>
      runInDurableObject(
        stub,
        (_i, state) =>
          state.storage.sql.exec<{ value: string }>("SELECT value FROM state WHERE key = 'sequence'").one().value,
      );
    const before = await readSequence();
    freezeClockAt(t0 + 5 * MIN);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(Number(await readSequence())).toBe(Number(before) + 1);
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({ availability: "Offline" });
  });

  it("expires preferred presence and status message on time", async () => {
    const t0 = Date.UTC(2030, 0, 3, 12, 0, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, undefined, { expiresIn: 86_400 * 10 });
    await act(
      user,
      "setPresence",
      { ...available, availability: "Busy", activity: "InACall", expirationDuration: "PT4H" },
      t,
    );
    await act(
      user,
      "setUserPreferredPresence",
      { availability: "DoNotDisturb", activity: "DoNotDisturb", expirationDuration: "PT30M" },
      t,
    );
    await act(
      user,
      "setStatusMessage",
      {
        statusMessage: {
          message: { content: "brb" },
          expiryDateTime: { dateTime: "2030-01-03T12:10:00", timeZone: "UTC" },
        },
      },
      t,
    );
    const stub = userObject(user);

    freezeClockAt(t0 + 10 * MIN);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({
      availability: "DoNotDisturb",
      statusMessage: null,
    });

    freezeClockAt(t0 + 30 * MIN);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({ availability: "Busy", activity: "InACall" });
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 240 * MIN);
  });

  it("applies the default preferred-presence expiry of one day for Busy (D6)", async () => {
    const t0 = Date.UTC(2030, 0, 4, 12, 0, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, undefined, { expiresIn: 86_400 * 10 });
    await act(user, "setUserPreferredPresence", { availability: "Busy", activity: "Busy" }, t);
    expect(await runInDurableObject(userObject(user), (_i, state) => state.storage.getAlarm())).toBe(
      t0 + 24 * 60 * MIN,
    );
  });

  it("answers reads correctly between deadlines even before the alarm has run", async () => {
    const t0 = Date.UTC(2030, 0, 5, 12, 0, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, undefined, { expiresIn: 86_400 });
    await act(user, "setPresence", { ...available, expirationDuration: "PT1H" }, t);
    const first = await getPresence(`/v1.0/me/presence`, t);
    freezeClockAt(t0 + 7 * MIN);
    const idle = await getPresence(`/v1.0/me/presence`, t);
    expect(idle).toMatchObject({ availability: "AvailableIdle", activity: "Inactive" });
    expect(idle.sequenceNumber > first.sequenceNumber).toBe(true);
    // The alarm that then fires finds nothing new to announce.
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    expect((await getPresence(`/v1.0/me/presence`, t)).sequenceNumber).toBe(idle.sequenceNumber);
  });
});

describe("routing errors", () => {
  it("answers an unknown route with 404 and the envelope", async () => {
    await expectGraphError(await call(`/v1.0/nothing/here`), 404, "NotFound");
    await expectGraphError(await call(`/`), 404, "NotFound");
  });

  it("answers an unknown action with 404", async () => {
    const user = newUserId();
    await expectGraphError(await act(user, "setMood", {}), 404, "NotFound", "no action 'setMood'");
  });

  it("answers a wrong method with 405 and Allow", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const del = await call(`/v1.0/me/presence`, { method: "DELETE", token: t });
    expect(del.headers.get("allow")).toBe("GET");
    await expectGraphError(del, 405, "MethodNotAllowed");
    await expectGraphError(await call(`/v1.0/me/presence/setPresence`, { token: t }), 405, "MethodNotAllowed");
    await expectGraphError(
      await call(`/v1.0/communications/getPresencesByUserId`, { token: t }),
      405,
      "MethodNotAllowed",
    );
  });
});
