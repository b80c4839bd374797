import { type Context, Hono } from "hono";
import { PatchMailboxSettingsBody } from "../domain/schemas";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest, methodNotAllowed } from "../http/errors";
import { assertCanUseMailboxSettings, targetUserId } from "../http/permissions";
import { serviceRoot } from "../http/service-root";
import { userPresenceStub } from "../objects/names";

type Ctx = Context<AppEnv>;

/** Graph's mailboxSettings, for the properties this service owns: timeZone and automaticRepliesSetting (D13, D14). */
export const mailboxSettingsRoutes = new Hono<AppEnv>({ strict: false });

const resource = (c: Ctx, userId: string, settings: object) => ({
  "@odata.context": `${serviceRoot(c)}/$metadata#users('${userId}')/mailboxSettings`,
  ...settings,
});

for (const [path, idOf] of [
  ["/me/mailboxSettings", () => "me"],
  ["/users/:id/mailboxSettings", (c: Ctx) => c.req.param("id") ?? ""],
] as const) {
  mailboxSettingsRoutes.get(path, async (c) => {
    const caller = await requireCaller(c);
    const userId = targetUserId(caller, idOf(c));
    assertCanUseMailboxSettings(caller, userId, false);
    return c.json(resource(c, userId, await userPresenceStub(c.env, caller.tenantId, userId).getMailboxSettings()));
  });

  mailboxSettingsRoutes.patch(path, async (c) => {
    const caller = await requireCaller(c);
    const userId = targetUserId(caller, idOf(c));
    assertCanUseMailboxSettings(caller, userId, true);
    const patch = await readJsonBody(c.req.raw, PatchMailboxSettingsBody);
    const result = await userPresenceStub(c.env, caller.tenantId, userId).updateMailboxSettings(patch);
    if ("error" in result) throw badRequest(result.error);
    return c.json(resource(c, userId, result.settings));
  });

  mailboxSettingsRoutes.all(path, () => {
    throw methodNotAllowed("GET, PATCH");
  });
}
