import { describe, expect, it } from "vitest";
import { appToken, call, expectGraphError, getPresence, newUserId, userToken } from "../helpers";

const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const MAILBOX_SCOPES = "Presence.Read Presence.ReadWrite MailboxSettings.ReadWrite";

describe("path segments (D23)", () => {
  it.each([
    "/v1.0/Me/Presence",
    "/V1.0/me/presence",
    "/BETA/ME/PRESENCE",
    "/v1.0/USERS/{ID}/presence",
    "/v1.0/Communications/Presences/{id}",
  ])("GET %s matches case-insensitively", async (template) => {
    const user = newUserId();
    const path = template.replace("{id}", user).replace("{ID}", user.toUpperCase());
    const body = await getPresence(path, await userToken(user));
    expect(body.id).toBe(user);
    expect(body.availability).toBe("Offline");
  });

  it.each([
    "/v1.0/me/presence/SetStatusMessage",
    "/v1.0/me/presence/setstatusmessage",
    "/v1.0/me/presence/microsoft.graph.setStatusMessage",
    "/v1.0/Me/Presence/Microsoft.Graph.SETSTATUSMESSAGE",
  ])("POST %s is the setStatusMessage action", async (path) => {
    const user = newUserId();
    const t = await userToken(user);
    const response = await call(path, { token: t, body: { statusMessage: { message: { content: path } } } });
    expect(response.status).toBe(200);
    expect((await getPresence("/v1.0/me/presence", t)).statusMessage?.message.content).toBe(path);
  });

  it.each([
    "/v1.0/communications/microsoft.graph.getPresencesByUserId",
    "/v1.0/Communications/GetPresencesByUserId",
    "/beta/COMMUNICATIONS/Microsoft.Graph.GetPresencesByUserId",
  ])("POST %s is getPresencesByUserId", async (path) => {
    const user = newUserId();
    const response = await call(path, { token: await appToken(["Presence.Read.All"]), body: { ids: [user] } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { value: { id: string }[] }).value.map((p) => p.id)).toEqual([user]);
  });

  it("matches /Subscriptions and /me/MailboxSettings case-insensitively", async () => {
    const user = newUserId();
    const subscriptions = await call("/v1.0/Subscriptions", { token: await userToken(user, "Presence.Read.All") });
    expect(subscriptions.status).toBe(200);
    const settings = await call("/v1.0/ME/MAILBOXSETTINGS", { token: await userToken(user, MAILBOX_SCOPES) });
    expect(settings.status).toBe(200);
  });

  it("quotes the path and the action as the caller sent them in a 404", async () => {
    const t = await userToken(newUserId());
    await expectGraphError(await call("/v1.0/Me/Presence/Dance", { token: t, body: {} }), 404, "NotFound", "'Dance'");
    await expectGraphError(await call("/v1.0/Me/Nowhere", { token: t }), 404, "NotFound", "'/v1.0/Me/Nowhere'");
  });
});

describe("client-request-id (D23)", () => {
  it.each(["my id 1", "a".repeat(128), "{curly}#?!~", "9f3c1b2a-0000-4000-8000-000000000000"])(
    "echoes %s as sent",
    async (sent) => {
      const response = await call("/v1.0/me/presence", {
        token: await userToken(newUserId()),
        headers: { "client-request-id": sent },
      });
      expect(response.headers.get("client-request-id")).toBe(sent);
    },
  );

  it.each(["a".repeat(129), "caf\u00e9", "tab\there"])("replaces %j with the server's id", async (sent) => {
    const response = await call("/v1.0/me/presence", {
      token: await userToken(newUserId()),
      headers: { "client-request-id": sent },
    });
    expect(response.headers.get("client-request-id")).toBe(response.headers.get("request-id"));
  });
});

describe("Content-Type of JSON answers", () => {
  it("is Graph's OData JSON type, for resources and errors alike", async () => {
    const user = newUserId();
    const ok = await call("/v1.0/me/presence", { token: await userToken(user) });
    expect(ok.headers.get("content-type")).toBe(ODATA_JSON);
    const unauthorized = await call("/v1.0/me/presence");
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("content-type")).toBe(ODATA_JSON);
    const notFound = await call("/v1.0/nowhere");
    expect(notFound.headers.get("content-type")).toBe(ODATA_JSON);
  });
});

describe("request bodies of actions: application/json only", () => {
  const statusMessage = JSON.stringify({ statusMessage: { message: { content: "typed" } } });

  it.each([
    ["application/json-seq"],
    ["application/json-patch+json"],
    ["application/merge-patch+json"],
    ["application/vnd.contoso+json"],
    ["text/plain"],
    [null],
  ])("a body sent as %s is 415 and changes nothing", async (contentType) => {
    const user = newUserId();
    const t = await userToken(user);
    const before = await getPresence("/v1.0/me/presence", t);
    const response = await call("/v1.0/me/presence/setStatusMessage", {
      token: t,
      rawBody: new TextEncoder().encode(statusMessage),
      headers: contentType === null ? {} : { "content-type": contentType },
    });
    await expectGraphError(response, 415, "UnsupportedMediaType", /application\/json/);
    expect(await getPresence("/v1.0/me/presence", t)).toEqual(before);
  });

  it.each(["application/json", "application/json; charset=utf-8", "Application/JSON;odata.metadata=minimal"])(
    "a body sent as %s is accepted",
    async (contentType) => {
      const user = newUserId();
      const t = await userToken(user);
      const response = await call("/v1.0/me/presence/setStatusMessage", {
        token: t,
        rawBody: statusMessage,
        headers: { "content-type": contentType },
      });
      expect(response.status).toBe(200);
    },
  );

  it("an empty body without Content-Type stays accepted on an action without parameters", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const response = await call("/v1.0/me/presence/clearUserPreferredPresence", { method: "POST", token: t });
    expect(response.status).toBe(200);
  });
});

describe("timestamps keep the caller's seven digits (D28)", () => {
  it("a status message's expiryDateTime reads back with the caller's sub-millisecond digits", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const response = await call("/v1.0/me/presence/setStatusMessage", {
      token: t,
      body: {
        statusMessage: {
          message: { content: "seven digits" },
          expiryDateTime: { dateTime: "2030-10-18T17:05:33.2079781", timeZone: "UTC" },
        },
      },
    });
    expect(response.status).toBe(200);
    const seen = await getPresence("/v1.0/me/presence", t);
    expect(seen.statusMessage?.expiryDateTime).toEqual({ dateTime: "2030-10-18T17:05:33.2079781", timeZone: "UTC" });
  });

  it("digits survive a conversion from the caller's zone to UTC", async () => {
    const user = newUserId();
    const t = await userToken(user);
    await call("/v1.0/me/presence/setStatusMessage", {
      token: t,
      body: {
        statusMessage: {
          message: { content: "zoned" },
          expiryDateTime: { dateTime: "2030-10-18T10:05:33.0000019", timeZone: "Pacific Standard Time" },
        },
      },
    });
    const seen = await getPresence("/v1.0/me/presence", t);
    expect(seen.statusMessage?.expiryDateTime).toEqual({ dateTime: "2030-10-18T17:05:33.0000019", timeZone: "UTC" });
  });

  it("mailboxSettings' scheduled times read back as written", async () => {
    const user = newUserId();
    const t = await userToken(user, MAILBOX_SCOPES);
    const start = { dateTime: "2030-01-01T08:00:00.1234567", timeZone: "W. Europe Standard Time" };
    const end = { dateTime: "2030-01-02T08:00:00.7654321", timeZone: "W. Europe Standard Time" };
    const response = await call("/v1.0/me/mailboxSettings", {
      method: "PATCH",
      token: t,
      body: {
        automaticRepliesSetting: { status: "scheduled", scheduledStartDateTime: start, scheduledEndDateTime: end },
      },
    });
    expect(response.status).toBe(200);
    const read = (await (await call("/v1.0/me/mailboxSettings", { token: t })).json()) as {
      automaticRepliesSetting: Record<string, unknown>;
    };
    expect(read.automaticRepliesSetting.scheduledStartDateTime).toEqual(start);
    expect(read.automaticRepliesSetting.scheduledEndDateTime).toEqual(end);
  });
});

describe("Windows zones outside CLDR's map (D12)", () => {
  it.each(["Kamchatka Standard Time", "Mid-Atlantic Standard Time"])(
    "%s is accepted as a mailbox time zone and in a status message expiry",
    async (zone) => {
      const user = newUserId();
      const t = await userToken(user, MAILBOX_SCOPES);
      const patched = await call("/v1.0/me/mailboxSettings", { method: "PATCH", token: t, body: { timeZone: zone } });
      expect(patched.status).toBe(200);
      expect(((await patched.json()) as { timeZone: string }).timeZone).toBe(zone);
      const set = await call("/v1.0/me/presence/setStatusMessage", {
        token: t,
        body: {
          statusMessage: {
            message: { content: zone },
            expiryDateTime: { dateTime: "2031-06-01T12:00:00", timeZone: zone },
          },
        },
      });
      expect(set.status).toBe(200);
    },
  );
});

/** GET /me/mailboxSettings as Graph's documentation shows it (the "Get user mailbox settings" example). */
const graphMailboxSettings = {
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Me/mailboxSettings",
  archiveFolder: "AAMkAGI2TGuLAAA=",
  timeZone: "Pacific Standard Time",
  automaticRepliesSetting: {
    status: "disabled",
    externalAudience: "all",
    scheduledStartDateTime: { dateTime: "2016-03-14T07:00:00.0000000", timeZone: "UTC" },
    scheduledEndDateTime: { dateTime: "2016-03-28T07:00:00.0000000", timeZone: "UTC" },
    internalReplyMessage:
      "<html>\n<body>\n<p>I'm at our company's worldwide reunion and will respond to your message as soon as I return.<br>\n</p></body>\n</html>\n",
    externalReplyMessage:
      "<html>\n<body>\n<p>I'm at the Contoso worldwide reunion and will respond to your message as soon as I return.<br>\n</p></body>\n</html>\n",
  },
  language: { locale: "en-US", displayName: "English (United States)" },
  workingHours: {
    daysOfWeek: ["monday", "tuesday", "wednesday", "thursday", "friday"],
    startTime: "08:00:00.0000000",
    endTime: "17:00:00.0000000",
    timeZone: { name: "Pacific Standard Time" },
  },
  userPurpose: "user",
  dateFormat: "MM/dd/yyyy",
  timeFormat: "hh:mm tt",
  delegateMeetingMessageDeliveryOptions: "sendToDelegateOnly",
};

describe("mailboxSettings: Graph's other properties", () => {
  it("a document read from Graph can be PATCHed back whole, and reads back the same", async () => {
    const user = newUserId();
    const t = await userToken(user, MAILBOX_SCOPES);
    const response = await call(`/v1.0/users/${user}/mailboxSettings`, {
      method: "PATCH",
      token: t,
      body: graphMailboxSettings,
    });
    expect(response.status).toBe(200);
    const { "@odata.context": _graphContext, ...expected } = graphMailboxSettings;
    const read = (await (await call("/v1.0/me/mailboxSettings", { token: t })).json()) as Record<string, unknown>;
    expect(read).toEqual({
      "@odata.context": `https://presence.test/v1.0/$metadata#users('${user}')/mailboxSettings`,
      ...expected,
    });
  });

  it("changes only what a PATCH names, merging inside workingHours", async () => {
    const user = newUserId();
    const t = await userToken(user, MAILBOX_SCOPES);
    await call("/v1.0/me/mailboxSettings", { method: "PATCH", token: t, body: graphMailboxSettings });
    const response = await call("/v1.0/me/mailboxSettings", {
      method: "PATCH",
      token: t,
      body: { dateFormat: "yyyy-MM-dd", workingHours: { startTime: "09:00:00.0000000" } },
    });
    expect(response.status).toBe(200);
    const read = (await response.json()) as typeof graphMailboxSettings;
    expect(read.dateFormat).toBe("yyyy-MM-dd");
    expect(read.timeFormat).toBe("hh:mm tt");
    expect(read.workingHours).toEqual({ ...graphMailboxSettings.workingHours, startTime: "09:00:00.0000000" });
  });

  it("the other properties change nothing a presence reader sees", async () => {
    const user = newUserId();
    const t = await userToken(user, MAILBOX_SCOPES);
    const before = await getPresence("/v1.0/me/presence", t);
    await call("/v1.0/me/mailboxSettings", { method: "PATCH", token: t, body: { language: { locale: "de-DE" } } });
    expect(await getPresence("/v1.0/me/presence", t)).toEqual(before);
  });

  it.each([
    ["an unknown property", { favouriteColour: "red" }, "'favouriteColour'"],
    ["a wrong type", { dateFormat: 7 }, "'dateFormat'"],
    ["an unknown nested property", { workingHours: { lunchTime: "12:00:00" } }, "'workingHours.lunchTime'"],
    ["a wrong nested type", { language: { locale: ["en-US"] } }, "'language.locale'"],
  ])("%s is 400 and changes nothing", async (_what, body, message) => {
    const user = newUserId();
    const t = await userToken(user, MAILBOX_SCOPES);
    await call("/v1.0/me/mailboxSettings", { method: "PATCH", token: t, body: graphMailboxSettings });
    const before = await (await call("/v1.0/me/mailboxSettings", { token: t })).json();
    const response = await call("/v1.0/me/mailboxSettings", { method: "PATCH", token: t, body });
    await expectGraphError(response, 400, "BadRequest", message);
    expect(await (await call("/v1.0/me/mailboxSettings", { token: t })).json()).toEqual(before);
  });

  it("an application may write them for any user (MailboxSettings.ReadWrite)", async () => {
    const user = newUserId();
    const response = await call(`/v1.0/users/${user}/mailboxSettings`, {
      method: "PATCH",
      token: await appToken(["MailboxSettings.ReadWrite"]),
      body: { timeFormat: "HH:mm" },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { timeFormat: string }).timeFormat).toBe("HH:mm");
  });
});
