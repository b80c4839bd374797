import { describe, expect, it } from "vitest";
import { APP, appToken, call, expectGraphError, getPresence, newUserId, userToken } from "../helpers";

const path = "/v1.0/communications/getPresencesByUserId";

async function setBusy(user: string) {
  const response = await call(`/v1.0/users/${user}/presence/setPresence`, {
    token: await appToken(),
    body: { sessionId: APP, availability: "Busy", activity: "InACall" },
  });
  expect(response.status).toBe(200);
}

describe("getPresencesByUserId", () => {
  it("returns each user once, in request order, with written and unwritten users", async () => {
    const [a, b, c] = [newUserId(), newUserId(), newUserId()];
    await setBusy(b);
    const response = await call(path, {
      token: await appToken(["Presence.Read.All"]),
      body: { ids: [c, b.toUpperCase(), a, b, c] },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { "@odata.context": string; value: { id: string; availability: string }[] };
    expect(body["@odata.context"]).toBe("https://presence.test/v1.0/$metadata#Collection(microsoft.graph.presence)");
    expect(body.value.map((p) => p.id)).toEqual([c, b, a]);
    expect(body.value.map((p) => p.availability)).toEqual(["Offline", "Busy", "Offline"]);
  });

  it("reads 650 users and gives each the same answer as a single GET", async () => {
    const ids = Array.from({ length: 650 }, newUserId);
    const written = ids.filter((_id, i) => i % 65 === 0);
    await Promise.all(written.map(setBusy));
    const reader = await appToken(["Presence.Read.All"]);
    const response = await call(`/beta/communications/getPresencesByUserId`, { token: reader, body: { ids } });
    expect(response.status).toBe(200);
    const { value } = (await response.json()) as { value: Record<string, unknown>[] };
    expect(value).toHaveLength(650);
    expect(value.filter((p) => p.availability === "Busy").map((p) => p.id)).toEqual(written);
    const single = await getPresence(`/v1.0/users/${written[0]}/presence`, reader);
    const { "@odata.context": _context, ...withoutContext } = single;
    expect(value[0]).toEqual(withoutContext);
  });

  it("shows the caller's own status message times only for the caller (D9)", async () => {
    const me = newUserId();
    const other = newUserId();
    const t = await userToken(me, "Presence.Read.All Presence.ReadWrite");
    for (const [user, tok] of [
      [me, t],
      [other, await userToken(other)],
    ] as const) {
      await call(`/v1.0/me/presence/setStatusMessage`, {
        token: tok,
        body: { statusMessage: { message: { content: `I am ${user}` } } },
      });
    }
    const response = await call(path, { token: t, body: { ids: [me, other] } });
    const { value } = (await response.json()) as { value: { statusMessage: Record<string, unknown> }[] };
    expect(value[0]?.statusMessage).toHaveProperty("publishedDateTime");
    expect(value[1]?.statusMessage).toEqual({ message: { content: `I am ${other}`, contentType: "text" } });
  });

  it.each([
    ["no ids", { ids: [] }, /between 1 and 650/],
    [
      "651 ids",
      { ids: Array.from({ length: 651 }, () => crypto.randomUUID()) },
      /between 1 and 650 user ids; it holds 651/,
    ],
    [
      "a non-GUID id",
      { ids: [crypto.randomUUID(), "bob@contoso.com"] },
      /'bob@contoso.com' in ids is not a valid user id/,
    ],
    ["ids that are not strings", { ids: [1, 2] }, /'ids.0' has the wrong type/],
    ["no ids property", {}, /Missing required parameter 'ids'/],
    ["an unknown parameter", { ids: [crypto.randomUUID()], top: 5 }, /Unknown parameter 'top'/],
  ])("refuses %s with 400", async (_what, body, message) => {
    await expectGraphError(
      await call(path, { token: await appToken(["Presence.Read.All"]), body }),
      400,
      "BadRequest",
      message,
    );
  });

  it("needs Presence.Read.All (delegated) or a read role (application)", async () => {
    const ids = [newUserId()];
    await expectGraphError(
      await call(path, { token: await userToken(newUserId(), "Presence.Read Presence.ReadWrite"), body: { ids } }),
      403,
      "Forbidden",
    );
    await expectGraphError(await call(path, { token: await appToken([]), body: { ids } }), 403, "Forbidden");
    expect((await call(path, { token: await userToken(newUserId(), "Presence.Read.All"), body: { ids } })).status).toBe(
      200,
    );
    expect((await call(path, { token: await appToken(["Presence.ReadWrite.All"]), body: { ids } })).status).toBe(200);
    await expectGraphError(await call(path, { body: { ids } }), 401, "InvalidAuthenticationToken");
  });
});
