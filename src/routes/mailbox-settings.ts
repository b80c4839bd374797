import type { Context } from "hono";
import { PatchMailboxSettingsBody } from "../domain/schemas";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest } from "../http/errors";
import { assertCanUseMailboxSettings, targetUserId } from "../http/permissions";
import { serviceRoot } from "../http/service-root";
import { userPresenceStub } from "../objects/names";
import type { UserIdOf } from "./presence";
import { handOnWrite } from "./reads";

type Ctx = Context<AppEnv>;

const resource = (c: Ctx, userId: string, settings: object) => ({
  "@odata.context": `${serviceRoot(c)}/$metadata#users('${userId}')/mailboxSettings`,
  ...settings,
});

/** GET of Graph's mailboxSettings: timeZone and automaticRepliesSetting (D13, D14), and the others as stored. */
export const readMailboxSettings = (idOf: UserIdOf) => async (c: Ctx) => {
  const caller = await requireCaller(c);
  const userId = targetUserId(caller, idOf(c));
  assertCanUseMailboxSettings(caller, userId, false);
  return c.json(resource(c, userId, await userPresenceStub(c.env, caller.tenantId, userId).getMailboxSettings()));
};

/** PATCH of mailboxSettings: only the properties given change. */
export const patchMailboxSettings = (idOf: UserIdOf) => async (c: Ctx) => {
  const caller = await requireCaller(c);
  const userId = targetUserId(caller, idOf(c));
  assertCanUseMailboxSettings(caller, userId, true);
  const patch = await readJsonBody(c.req.raw, PatchMailboxSettingsBody);
  const result = await userPresenceStub(c.env, caller.tenantId, userId).updateMailboxSettings(patch);
  if ("error" in result) throw badRequest(result.error);
  // Out of office shows in presence: the writer's next read in its region shows it (D30).
  await handOnWrite(c, caller, userId, result.receipt);
  return c.json(resource(c, userId, result.settings));
};
