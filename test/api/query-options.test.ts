import { describe, expect, it } from "vitest";
import { appToken, call, expectGraphError, newUserId, userToken } from "../helpers";

const root = "https://presence.test/v1.0";

describe("$select on presence reads (D21)", () => {
  it.each([
    ["/v1.0/me/presence", (u: string) => `${root}/$metadata#users('${u}')/presence(availability,activity)/$entity`],
    [
      "/v1.0/users/{id}/presence",
      (u: string) => `${root}/$metadata#users('${u}')/presence(availability,activity)/$entity`,
    ],
    [
      "/v1.0/communications/presences/{id}",
      () => `${root}/$metadata#communications/presences(availability,activity)/$entity`,
    ],
  ])("%s projects the named properties plus id", async (path, context) => {
    const user = newUserId();
    const response = await call(`${path.replace("{id}", user)}?$select=availability,activity`, {
      token: await userToken(user),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      "@odata.context": context(user),
      id: user,
      availability: "Offline",
      activity: "Offline",
    });
  });

  it("takes property names in any case and answers them in Graph's case", async () => {
    const user = newUserId();
    const response = await call(`/v1.0/me/presence?$select=STATUSMESSAGE, sequenceNumber`, {
      token: await userToken(user),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["@odata.context", "id", "statusMessage", "sequenceNumber"]);
    expect(body.statusMessage).toBeNull();
  });

  it("applies to getPresencesByUserId", async () => {
    const [a, b] = [newUserId(), newUserId()];
    const response = await call(`/v1.0/communications/getPresencesByUserId?$select=activity`, {
      token: await appToken(["Presence.Read.All"]),
      body: { ids: [a, b] },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { value: unknown[] };
    expect(body.value).toEqual([
      { id: a, activity: "Offline" },
      { id: b, activity: "Offline" },
    ]);
  });

  it.each(["colour", "availability,colour", ""])("refuses $select=%s with 400 naming the property", async (select) => {
    const user = newUserId();
    const response = await call(`/v1.0/me/presence?$select=${select}`, { token: await userToken(user) });
    await expectGraphError(response, 400, "BadRequest", select === "" ? /\$select/ : /'colour'/);
  });
});

describe("other $ system query options (D21)", () => {
  it.each([
    ["GET", "/v1.0/me/presence?$expand=statusMessage", "$expand"],
    ["GET", "/v1.0/me/presence?$filter=availability eq 'Busy'", "$filter"],
    ["GET", "/v1.0/me/presence?$foo=1", "$foo"],
    ["GET", "/v1.0/me/mailboxSettings?$top=1", "$top"],
    ["GET", "/v1.0/subscriptions?$select=id", "$select"],
    ["POST", "/v1.0/me/presence/clearUserPreferredPresence?$expand=x", "$expand"],
  ])("%s %s is 400 naming %s", async (method, path, option) => {
    const user = newUserId();
    const response = await call(path, {
      method,
      token: await userToken(user, "Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite"),
    });
    await expectGraphError(response, 400, "BadRequest", `'${option}'`);
  });

  it("ignores plain unknown query parameters", async () => {
    const user = newUserId();
    const response = await call(`/v1.0/me/presence?foo=bar&select=nothing`, { token: await userToken(user) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ availability: "Offline", activity: "Offline" });
  });
});
