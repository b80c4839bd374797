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

const alarmOf = (user: string) => runInDurableObject(userObject(user), (_i, state) => state.storage.getAlarm());
afterEach(() => {
  vi.useRealTimers();
});

const post = (path: string, token: string, body?: unknown) => call(path, { method: "POST", token, body });
const patch = (path: string, token: string, body: unknown) => call(path, { method: "PATCH", token, body });
const ALL_SCOPES = "Presence.Read Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite";

describe("work location actions", () => {
  const bases = (user: string) => [
    `/v1.0/me/presence`,
    `/beta/users/${user}/presence`,
    `/v1.0/communications/presences/${user}`,
  ];

  it("set, aggregate and clear under all three paths", async () => {
    for (const base of bases(newUserId())) {
      const user = newUserId();
      const t = await userToken(user);
      const path = base.replace(/[0-9a-f-]{36}/, user);
      expect((await post(`${path}/setAutomaticLocation`, t, { workLocationType: "remote" })).status).toBe(200);
      expect((await getPresence(`/v1.0/me/presence`, t)).workLocation).toEqual({
        workLocationType: "remote",
        source: "automatic",
        placeId: null,
      });
      expect(
        (await post(`${path}/setManualLocation`, t, { workLocationType: "Office", placeId: "bldg-42" })).status,
      ).toBe(200);
      expect((await getPresence(`/v1.0/me/presence`, t)).workLocation).toEqual({
        workLocationType: "office",
        source: "manual",
        placeId: "bldg-42",
      });
      // clearAutomaticLocation leaves the manual layer, which wins anyway.
      expect((await post(`${path}/clearAutomaticLocation`, t)).status).toBe(200);
      expect((await getPresence(`/v1.0/me/presence`, t)).workLocation.source).toBe("manual");
      await post(`${path}/setAutomaticLocation`, t, { workLocationType: "remote" });
      expect((await post(`${path}/clearLocation`, t, {})).status).toBe(200);
      expect((await getPresence(`/v1.0/me/presence`, t)).workLocation).toEqual({
        workLocationType: "unspecified",
        source: "none",
        placeId: null,
      });
    }
  });

  it("clearAutomaticLocation falls back from automatic to none, and removes every application's signal", async () => {
    const user = newUserId();
    const t1 = await userToken(user, undefined, { app: APP });
    const t2 = await userToken(user, undefined, { app: OTHER_APP });
    await post(`/v1.0/me/presence/setAutomaticLocation`, t1, { workLocationType: "office" });
    await post(`/v1.0/me/presence/setAutomaticLocation`, t2, { workLocationType: "office", placeId: "desk-9" });
    expect((await getPresence(`/v1.0/me/presence`, t1)).workLocation).toEqual({
      workLocationType: "office",
      source: "automatic",
      placeId: "desk-9",
    });
    await post(`/v1.0/me/presence/clearAutomaticLocation`, t1);
    expect((await getPresence(`/v1.0/me/presence`, t1)).workLocation.source).toBe("none");
  });

  it("bumps sequenceNumber on a visible change", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const before = (await getPresence(`/v1.0/me/presence`, t)).sequenceNumber;
    await post(`/v1.0/me/presence/setManualLocation`, t, { workLocationType: "remote" });
    expect((await getPresence(`/v1.0/me/presence`, t)).sequenceNumber > before).toBe(true);
  });

  it.each([
    ["an unknown type", { workLocationType: "home" }, /workLocationType 'home' is not supported/],
    ["a missing type", { placeId: "x" }, /Missing required parameter 'workLocationType'/],
    ["an unknown parameter", { workLocationType: "office", building: "x" }, /Unknown parameter 'building'/],
    ["a non-string placeId", { workLocationType: "office", placeId: 7 }, /'placeId' has the wrong type/],
  ])("refuses %s with 400 and changes nothing", async (_what, body, message) => {
    const user = newUserId();
    const t = await userToken(user);
    await post(`/v1.0/me/presence/setManualLocation`, t, { workLocationType: "remote" });
    const before = await getPresence(`/v1.0/me/presence`, t);
    await expectGraphError(await post(`/v1.0/me/presence/setManualLocation`, t, body), 400, "BadRequest", message);
    await expectGraphError(
      await post(`/v1.0/me/presence/clearLocation`, t, { now: true }),
      400,
      "BadRequest",
      /Unknown parameter 'now'/,
    );
    expect(await getPresence(`/v1.0/me/presence`, t)).toEqual(before);
  });

  it("refuses application tokens (Graph supports delegated only) and other users", async () => {
    const user = newUserId();
    const app = await appToken(["Presence.ReadWrite.All"]);
    for (const action of ["setManualLocation", "setAutomaticLocation", "clearAutomaticLocation", "clearLocation"]) {
      await expectGraphError(
        await post(`/v1.0/users/${user}/presence/${action}`, app, { workLocationType: "office" }),
        403,
        "Forbidden",
        /delegated/,
      );
    }
    const someoneElse = await userToken(newUserId());
    await expectGraphError(
      await post(`/v1.0/users/${user}/presence/setManualLocation`, someoneElse, { workLocationType: "office" }),
      403,
      "Forbidden",
    );
    await expectGraphError(
      await post(`/v1.0/me/presence/setManualLocation`, await userToken(user, "Presence.Read"), {
        workLocationType: "office",
      }),
      403,
      "Forbidden",
    );
  });

  it("vanishes at the user's local midnight (Tokyo), through the alarm", async () => {
    // 2030-06-10 23:00 in Tokyo is 14:00 UTC; Tokyo's midnight is 15:00 UTC.
    const t0 = Date.UTC(2030, 5, 10, 14, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, ALL_SCOPES, { expiresIn: 86_400 });
    expect((await patch(`/v1.0/me/mailboxSettings`, t, { timeZone: "Tokyo Standard Time" })).status).toBe(200);
    await post(`/v1.0/me/presence/setManualLocation`, t, { workLocationType: "office" });
    const set = await getPresence(`/v1.0/me/presence`, t);
    expect(set.workLocation).toEqual({ workLocationType: "office", source: "manual", placeId: null });
    expect(await alarmOf(user)).toBe(Date.UTC(2030, 5, 10, 15, 0));

    freezeClockAt(Date.UTC(2030, 5, 10, 15, 0));
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    const after = await getPresence(`/v1.0/me/presence`, t);
    expect(after.workLocation).toEqual({ workLocationType: "unspecified", source: "none", placeId: null });
    expect(after.sequenceNumber > set.sequenceNumber).toBe(true);
    expect(await alarmOf(user)).toBeNull();
  });

  it("belongs to UTC's date when no time zone is set", async () => {
    const t0 = Date.UTC(2030, 5, 11, 23, 30);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, undefined, { expiresIn: 86_400 });
    await post(`/v1.0/me/presence/setAutomaticLocation`, t, { workLocationType: "remote" });
    expect(await alarmOf(user)).toBe(Date.UTC(2030, 5, 12, 0, 0));
  });
});

describe("mailboxSettings and out of office", () => {
  it("GET answers defaults; PATCH merges and returns the whole object, under /me and /users/{id}", async () => {
    const user = newUserId();
    const t = await userToken(user, "MailboxSettings.ReadWrite");
    const initial = await call(`/v1.0/me/mailboxSettings`, { token: t });
    expect(initial.status).toBe(200);
    expect(await initial.json()).toEqual({
      "@odata.context": `https://presence.test/v1.0/$metadata#users('${user}')/mailboxSettings`,
      timeZone: "UTC",
      automaticRepliesSetting: {
        status: "disabled",
        externalAudience: "all",
        scheduledStartDateTime: null,
        scheduledEndDateTime: null,
        internalReplyMessage: "",
        externalReplyMessage: "",
      },
    });
    const first = await patch(`/beta/users/${user}/mailboxSettings`, t, { timeZone: "Pacific Standard Time" });
    expect(first.status).toBe(200);
    const second = await patch(`/v1.0/me/mailboxSettings`, t, {
      "@odata.context": "ignored",
      automaticRepliesSetting: {
        status: "alwaysEnabled",
        internalReplyMessage: "Away this week",
        externalAudience: "contactsOnly",
      },
    });
    expect(await second.json()).toMatchObject({
      timeZone: "Pacific Standard Time",
      automaticRepliesSetting: {
        status: "alwaysEnabled",
        internalReplyMessage: "Away this week",
        externalAudience: "contactsOnly",
      },
    });
  });

  it("shows out of office on presence while replies are always enabled, with the D13 overlay", async () => {
    const user = newUserId();
    const t = await userToken(user, ALL_SCOPES);
    await post(`/v1.0/me/presence/setPresence`, t, {
      sessionId: APP,
      availability: "Available",
      activity: "Available",
      expirationDuration: "PT1H",
    });
    await patch(`/v1.0/me/mailboxSettings`, t, {
      automaticRepliesSetting: { status: "alwaysEnabled", internalReplyMessage: "On holiday" },
    });
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({
      availability: "Available",
      activity: "OutOfOffice",
      outOfOfficeSettings: { isOutOfOffice: true, message: "On holiday" },
    });
    await post(`/v1.0/me/presence/setPresence`, t, {
      sessionId: APP,
      availability: "Busy",
      activity: "InACall",
      expirationDuration: "PT1H",
    });
    expect(await getPresence(`/v1.0/me/presence`, t)).toMatchObject({
      availability: "Busy",
      activity: "InACall",
      outOfOfficeSettings: { isOutOfOffice: true },
    });
  });

  it("turns out of office on and off exactly at the scheduled window's edges, through the alarm", async () => {
    const t0 = Date.UTC(2030, 6, 1, 6, 0);
    freezeClockAt(t0);
    const user = newUserId();
    const t = await userToken(user, ALL_SCOPES, { expiresIn: 86_400 * 3 });
    const response = await patch(`/v1.0/me/mailboxSettings`, t, {
      timeZone: "W. Europe Standard Time",
      automaticRepliesSetting: {
        status: "scheduled",
        scheduledStartDateTime: { dateTime: "2030-07-01T09:00:00", timeZone: "W. Europe Standard Time" },
        scheduledEndDateTime: { dateTime: "2030-07-01T17:00:00", timeZone: "W. Europe Standard Time" },
        internalReplyMessage: "Off today",
      },
    });
    expect(response.status).toBe(200);
    const start = Date.UTC(2030, 6, 1, 7, 0);
    const end = Date.UTC(2030, 6, 1, 15, 0);
    const before = await getPresence(`/v1.0/me/presence`, t);
    expect(before.outOfOfficeSettings).toEqual({ isOutOfOffice: false, message: null });
    expect(await alarmOf(user)).toBe(start);

    freezeClockAt(start);
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    const during = await getPresence(`/v1.0/me/presence`, t);
    expect(during).toMatchObject({
      activity: "OutOfOffice",
      outOfOfficeSettings: { isOutOfOffice: true, message: "Off today" },
    });
    expect(during.sequenceNumber > before.sequenceNumber).toBe(true);
    expect(await alarmOf(user)).toBe(end);

    freezeClockAt(end);
    expect(await runDurableObjectAlarm(userObject(user))).toBe(true);
    const afterwards = await getPresence(`/v1.0/me/presence`, t);
    expect(afterwards).toMatchObject({
      activity: "Offline",
      outOfOfficeSettings: { isOutOfOffice: false, message: null },
    });
    expect(afterwards.sequenceNumber > during.sequenceNumber).toBe(true);
    expect(await alarmOf(user)).toBeNull();
  });

  it.each([
    [
      "end before start",
      {
        automaticRepliesSetting: {
          status: "scheduled",
          scheduledStartDateTime: { dateTime: "2030-01-02T00:00:00" },
          scheduledEndDateTime: { dateTime: "2030-01-01T00:00:00" },
        },
      },
      /must be after/,
    ],
    ["scheduled without a window", { automaticRepliesSetting: { status: "scheduled" } }, /needs both/],
    ["an unknown zone", { timeZone: "Middle Earth" }, /not a known time zone/],
    ["an unknown property", { favouriteColour: "teal" }, /Unknown parameter 'favouriteColour'/],
    [
      "an unknown nested property",
      { automaticRepliesSetting: { enabled: true } },
      /Unknown parameter 'automaticRepliesSetting.enabled'/,
    ],
    ["a bad status", { automaticRepliesSetting: { status: "on" } }, /status 'on' is not supported/],
  ])("PATCH with %s is 400 and changes nothing", async (_what, body, message) => {
    const user = newUserId();
    const t = await userToken(user, ALL_SCOPES);
    await patch(`/v1.0/me/mailboxSettings`, t, { timeZone: "Tokyo Standard Time" });
    const settingsBefore = await (await call(`/v1.0/me/mailboxSettings`, { token: t })).json();
    const presenceBefore = await getPresence(`/v1.0/me/presence`, t);
    await expectGraphError(await patch(`/v1.0/me/mailboxSettings`, t, body), 400, "BadRequest", message);
    expect(await (await call(`/v1.0/me/mailboxSettings`, { token: t })).json()).toEqual(settingsBefore);
    expect(await getPresence(`/v1.0/me/presence`, t)).toEqual(presenceBefore);
  });

  it("enforces MailboxSettings permissions", async () => {
    const user = newUserId();
    const other = newUserId();
    const read = await userToken(user, "MailboxSettings.Read");
    expect((await call(`/v1.0/me/mailboxSettings`, { token: read })).status).toBe(200);
    await expectGraphError(
      await patch(`/v1.0/me/mailboxSettings`, read, { timeZone: "UTC" }),
      403,
      "Forbidden",
      /MailboxSettings.ReadWrite/,
    );
    await expectGraphError(
      await call(`/v1.0/users/${other}/mailboxSettings`, { token: await userToken(user, "MailboxSettings.ReadWrite") }),
      403,
      "Forbidden",
      /own mailbox/,
    );
    await expectGraphError(
      await call(`/v1.0/me/mailboxSettings`, { token: await userToken(user, "Presence.ReadWrite") }),
      403,
      "Forbidden",
    );
    const appRead = await appToken(["MailboxSettings.Read"]);
    expect((await call(`/v1.0/users/${other}/mailboxSettings`, { token: appRead })).status).toBe(200);
    await expectGraphError(
      await patch(`/v1.0/users/${other}/mailboxSettings`, appRead, { timeZone: "UTC" }),
      403,
      "Forbidden",
    );
    expect(
      (
        await patch(`/v1.0/users/${other}/mailboxSettings`, await appToken(["MailboxSettings.ReadWrite"]), {
          timeZone: "UTC",
        })
      ).status,
    ).toBe(200);
    await expectGraphError(await call(`/v1.0/me/mailboxSettings`, { token: appRead }), 400, "BadRequest", /\/me/);
    await expectGraphError(
      await call(`/v1.0/me/mailboxSettings`, { method: "DELETE", token: read }),
      405,
      "MethodNotAllowed",
    );
  });
});
