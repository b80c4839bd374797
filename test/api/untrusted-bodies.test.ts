import { describe, expect, it } from "vitest";
import { InvalidInput } from "../../src/domain/errors";
import { MAX_JSON_DEPTH, parseUntrustedJson } from "../../src/shared/untrusted-json";
import { APP, appToken, call, expectGraphError, getPresence, newUserId, userToken } from "../helpers";

// D28: JSON from outside is parsed by one function that refuses nesting
// deeper than 64 levels, the keys __proto__/constructor/prototype, and text
// that is not well-formed Unicode, and hands back objects without prototypes.

/** `depth` levels of arrays around a number. */
const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;
const arrays = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const objects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;

describe("parseUntrustedJson", () => {
  it("parses ordinary JSON", () => {
    expect(parseUntrustedJson('{"a":[1,"x",null,true,{"b":2.5}],"c":"😀 \\ud83d\\ude00"}')).toEqual({
      a: [1, "x", null, true, { b: 2.5 }],
      c: "😀 😀",
    });
    expect(parseUntrustedJson('"text"')).toBe("text");
  });

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}, arrays and objects alike`, () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(() => parseUntrustedJson(arrays(64))).not.toThrow();
    expect(() => parseUntrustedJson(objects(64))).not.toThrow();
    expect(() => parseUntrustedJson(`{"x":${nested(63)}}`)).not.toThrow();
    for (const text of [arrays(65), objects(65), `{"x":${nested(64)}}`, `[${objects(64)}]`]) {
      expect(() => parseUntrustedJson(text)).toThrow(/nested deeper than 64 levels/);
    }
  });

  it("refuses deep nesting however deep, without running out of stack", () => {
    for (const depth of [3_000, 100_000]) {
      expect(() => parseUntrustedJson(`{"statusMessage":${arrays(depth)}}`)).toThrow(InvalidInput);
      expect(() => parseUntrustedJson(objects(depth))).toThrow(/nested deeper than 64 levels/);
    }
  });

  it.each([
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"admin":true}}}',
    '{"prototype":1}',
    '{"a":{"b":[{"__proto__":null}]}}',
    '[{"ok":1},{"constructor":"x"}]',
  ])("refuses the prototype keys in %s", (text) => {
    expect(() => parseUntrustedJson(text)).toThrow(
      /has the key '(__proto__|constructor|prototype)'.*, which is not allowed\./,
    );
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it("names where the key was", () => {
    expect(() => parseUntrustedJson('{"statusMessage":{"message":[{"__proto__":{}}]}}', "The request body")).toThrow(
      "The request body has the key '__proto__' at statusMessage.message.0, which is not allowed.",
    );
  });

  it("hands back objects without a prototype, so nothing inherited can be read as input", () => {
    const parsed = parseUntrustedJson('{"a":{"b":1},"list":[{"c":2}]}') as Record<string, Record<string, unknown>>;
    expect(Object.getPrototypeOf(parsed)).toBeNull();
    expect(Object.getPrototypeOf(parsed.a)).toBeNull();
    expect(Object.getPrototypeOf((parsed.list as unknown as object[])[0])).toBeNull();
    expect("toString" in parsed).toBe(false);
    expect(Array.isArray(parsed.list)).toBe(true);
  });

  it.each([
    ['{"content":"x\\ud800y"}', "content"],
    ['{"content":"\\udc00"}', "content"],
    ['{"a":["ok","\\ud83d"]}', "a.1"],
    ['{"x\\ud800":"key"}', "a key"],
    ['"\\udfff"', "the top level"],
  ])("refuses lone surrogates in %s", (text, where) => {
    expect(() => parseUntrustedJson(text)).toThrow(/not well-formed Unicode \(a lone surrogate\)/);
    expect(() => parseUntrustedJson(text)).toThrow(where);
  });

  it("refuses text that is not JSON", () => {
    expect(() => parseUntrustedJson('{"a":', "The frame")).toThrow("The frame is not valid JSON.");
  });
});

const deep = `{"statusMessage":${arrays(3_000)}}`;

describe("JSON endpoints (D28)", () => {
  const me = newUserId();
  it.each([
    ["POST", "/v1.0/me/presence/setPresence"],
    ["POST", "/v1.0/me/presence/setStatusMessage"],
    ["POST", "/v1.0/me/presence/setUserPreferredPresence"],
    ["POST", "/v1.0/me/presence/clearUserPreferredPresence"],
    ["POST", "/v1.0/me/presence/setManualLocation"],
    ["POST", "/v1.0/communications/getPresencesByUserId"],
    ["POST", "/v1.0/subscriptions"],
    ["PATCH", "/v1.0/me/mailboxSettings"],
  ])("%s %s answers 400, not 500, to a body nested 3,000 levels deep", async (method, path) => {
    const token = await userToken(
      me,
      "Presence.Read Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite Presence.Read.All",
    );
    await expectGraphError(
      await call(path, { method, token, rawBody: deep, headers: { "content-type": "application/json" } }),
      400,
      "BadRequest",
      "The request body is nested deeper than 64 levels.",
    );
  });

  async function post(user: string, action: string, rawBody: string, token?: string) {
    return call(`/v1.0/users/${user}/presence/${action}`, {
      token: token ?? (await appToken()),
      rawBody,
      headers: { "content-type": "application/json" },
    });
  }
  const read = async (user: string) => getPresence(`/v1.0/users/${user}/presence`, await appToken());

  it("a __proto__ key cannot smuggle fields into setPresence", async () => {
    const user = newUserId();
    const before = await read(user);
    await expectGraphError(
      await post(
        user,
        "setPresence",
        `{"sessionId":"${APP}","__proto__":{"availability":"Busy","activity":"InACall"}}`,
      ),
      400,
      "BadRequest",
      "The request body has the key '__proto__', which is not allowed.",
    );
    expect(await read(user)).toEqual(before);
  });

  it.each([
    '{"__proto__":{"statusMessage":{"message":{"content":"pwned"}}}}',
    '{"statusMessage":{"__proto__":{"message":{"content":"pwned"}}}}',
    '{"statusMessage":{"message":{"constructor":{"content":"pwned"}}}}',
  ])("prototype keys cannot set a status message: %s", async (body) => {
    const user = newUserId();
    const before = await read(user);
    await expectGraphError(await post(user, "setStatusMessage", body), 400, "BadRequest", "which is not allowed.");
    expect(await read(user)).toEqual(before);
  });

  it("a status message with a lone surrogate is 400 and nothing changes", async () => {
    const user = newUserId();
    expect(
      (await post(user, "setStatusMessage", JSON.stringify({ statusMessage: { message: { content: "before" } } })))
        .status,
    ).toBe(200);
    const before = await read(user);
    await expectGraphError(
      await post(user, "setStatusMessage", '{"statusMessage":{"message":{"content":"x\\ud800y"}}}'),
      400,
      "BadRequest",
      "The request body has text that is not well-formed Unicode (a lone surrogate) at statusMessage.message.content.",
    );
    expect(await read(user)).toEqual(before);
    expect(before.statusMessage?.message?.content).toBe("before");
  });

  it("keeps what validation says about a value of the wrong type, objects included", async () => {
    await expectGraphError(
      await post(newUserId(), "setPresence", `{"sessionId":{"a":1},"availability":"Busy","activity":"InACall"}`),
      400,
      "BadRequest",
      "Parameter 'sessionId' has the wrong type: expected string, received Object.",
    );
    await expectGraphError(
      await post(newUserId(), "setPresence", `{"sessionId":[1],"availability":"Busy","activity":"InACall"}`),
      400,
      "BadRequest",
      "Parameter 'sessionId' has the wrong type: expected string, received Array.",
    );
  });
});

describe("out-of-office messages (D28)", () => {
  const patch = async (user: string, replies: Record<string, unknown>) =>
    call(`/v1.0/users/${user}/mailboxSettings`, {
      method: "PATCH",
      token: await appToken(["MailboxSettings.ReadWrite", "Presence.Read.All"]),
      body: { automaticRepliesSetting: { status: "alwaysEnabled", ...replies } },
    });
  const settings = async (user: string) =>
    (await call(`/v1.0/users/${user}/mailboxSettings`, { token: await appToken(["MailboxSettings.Read"]) })).json();

  it.each(["internalReplyMessage", "externalReplyMessage"])("%s takes 8,000 characters", async (name) => {
    const user = newUserId();
    expect((await patch(user, { [name]: "x".repeat(8_000) })).status).toBe(200);
  });

  it.each([
    ["internalReplyMessage", 8_001],
    ["externalReplyMessage", 8_001],
    ["internalReplyMessage", 60_000],
  ])("%s of %i characters is 400 and changes nothing", async (name, length) => {
    const user = newUserId();
    expect((await patch(user, { internalReplyMessage: "away", externalReplyMessage: "away" })).status).toBe(200);
    const before = await settings(user);
    const presence = await getPresence(`/v1.0/users/${user}/presence`, await appToken(["Presence.Read.All"]));
    await expectGraphError(
      await patch(user, { [name]: "x".repeat(length) }),
      400,
      "BadRequest",
      `automaticRepliesSetting.${name} may be at most 8000 characters.`,
    );
    expect(await settings(user)).toEqual(before);
    expect(await getPresence(`/v1.0/users/${user}/presence`, await appToken(["Presence.Read.All"]))).toEqual(presence);
  });
});
