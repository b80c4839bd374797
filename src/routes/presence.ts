import type { Context } from "hono";
import { toSetPreferredCommand, toSetSessionCommand, toSetStatusMessageCommand } from "../domain/commands";
import type { PresenceView } from "../domain/model";
import {
  ClearPresenceBody,
  EmptyBody,
  SetPreferredPresenceBody,
  SetPresenceBody,
  SetStatusMessageBody,
  SetWorkLocationBody,
} from "../domain/schemas";
import { parseWorkLocation } from "../domain/work-location";
import type { Caller } from "../http/auth";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest, forbidden, notFound } from "../http/errors";
import { assertCanRead, assertCanWrite, targetUserId } from "../http/permissions";
import { project, selectedProperties, selectSuffix } from "../http/query-options";
import { serviceRoot } from "../http/service-root";
import { userPresenceStub } from "../objects/names";
import type { WriteReceipt } from "../objects/user-presence";
import { handOnWrite, readPresences } from "./reads";

type Ctx = Context<AppEnv>;
type Stub = ReturnType<typeof userPresenceStub>;

/** The properties of `microsoft.graph.presence`, for `$select` (D21). */
export const PRESENCE_PROPERTIES = [
  "id",
  "availability",
  "activity",
  "statusMessage",
  "outOfOfficeSettings",
  "workLocation",
  "sequenceNumber",
] as const satisfies readonly ("id" | keyof PresenceView)[];

/** The presence resource as Graph returns it: `@odata.context`, `id`, then the (selected) properties. */
export function presenceResource(
  context: string | undefined,
  userId: string,
  view: PresenceView,
  select?: readonly string[],
) {
  return { ...(context ? { "@odata.context": context } : {}), ...project({ id: userId, ...view }, select) };
}

function assertOwnSession(caller: Caller, sessionId: string): string {
  if (sessionId.toLowerCase() !== caller.appId) {
    throw badRequest(
      `sessionId '${sessionId}' must be the calling application's id '${caller.appId}': each application has one session.`,
    );
  }
  return caller.appId;
}

/** Spec 1.1: Graph supports the work-location actions with delegated tokens only. */
function assertDelegatedForWorkLocation(caller: Caller): void {
  if (caller.kind !== "delegated") {
    throw forbidden("The work-location actions support only delegated tokens (Presence.ReadWrite), as in Graph.");
  }
}

/** An action answers what the writer's region's read view needs (D30). */
type ActionHandler = (c: Ctx, caller: Caller, stub: Stub) => Promise<WriteReceipt | null>;

/** The bound actions of `microsoft.graph.presence` (spec 1.4-1.8); each answers 200 with no body (D7). */
const ACTIONS = {
  async setPresence(c, caller, stub) {
    const body = await readJsonBody(c.req.raw, SetPresenceBody);
    assertOwnSession(caller, body.sessionId);
    return stub.setSession(toSetSessionCommand(body));
  },
  async clearPresence(c, caller, stub) {
    const body = await readJsonBody(c.req.raw, ClearPresenceBody);
    const sessionId = assertOwnSession(caller, body.sessionId);
    const cleared = await stub.clearSession(sessionId);
    if (!cleared.found) throw notFound(`The user has no presence session '${body.sessionId}'.`);
    return cleared.receipt;
  },
  async setUserPreferredPresence(c, _caller, stub) {
    const body = await readJsonBody(c.req.raw, SetPreferredPresenceBody);
    return stub.setPreferred(toSetPreferredCommand(body));
  },
  async clearUserPreferredPresence(c, _caller, stub) {
    await readJsonBody(c.req.raw, EmptyBody);
    return stub.clearPreferred();
  },
  async setStatusMessage(c, _caller, stub) {
    const body = await readJsonBody(c.req.raw, SetStatusMessageBody);
    return stub.setStatusMessage(toSetStatusMessageCommand(body.statusMessage, Date.now()));
  },
  async setManualLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    const { workLocationType, placeId } = parseWorkLocation(await readJsonBody(c.req.raw, SetWorkLocationBody));
    // The manual layer is the user's own choice: one slot, the latest wins.
    return stub.setWorkLocation("manual", "", workLocationType, placeId);
  },
  async setAutomaticLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    const { workLocationType, placeId } = parseWorkLocation(await readJsonBody(c.req.raw, SetWorkLocationBody));
    // Automatic signals come from several agents (Teams, docking apps): one per application.
    return stub.setWorkLocation("automatic", caller.appId, workLocationType, placeId);
  },
  async clearAutomaticLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    await readJsonBody(c.req.raw, EmptyBody);
    return stub.clearWorkLocation("automatic");
  },
  async clearLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    await readJsonBody(c.req.raw, EmptyBody);
    return stub.clearWorkLocation();
  },
} satisfies Record<string, ActionHandler>;

/** Whose presence a route addresses: the caller's own (`/me`), or the `:id` in the path (spec 1). */
export type UserIdOf = (c: Ctx) => string;
export const callerSelf: UserIdOf = () => "me";
export const userIdParam: UserIdOf = (c) => c.req.param("id") ?? "";

/** `@odata.context` of a presence read, by the way it was addressed; a `$select` projects it (D21). */
type PresenceContext = (root: string, userId: string, select: readonly string[] | undefined) => string;
export const userPresenceContext: PresenceContext = (root, id, select) =>
  `${root}/$metadata#users('${id}')/presence${selectSuffix(select)}/$entity`;
export const communicationsPresenceContext: PresenceContext = (root, _id, select) =>
  `${root}/$metadata#communications/presences${selectSuffix(select)}/$entity`;

/** GET of one user's presence. */
export const readPresence = (idOf: UserIdOf, context: PresenceContext) => async (c: Ctx) => {
  const caller = await requireCaller(c, "read");
  const userId = targetUserId(caller, idOf(c));
  assertCanRead(caller, userId);
  const [view] = await readPresences(c, caller, [userId]);
  const select = selectedProperties(c);
  return c.json(presenceResource(context(serviceRoot(c), userId, select), userId, view as PresenceView, select));
};

export type PresenceActionName = keyof typeof ACTIONS;

/** POST of one of the presence resource's bound actions. */
export const presenceAction = (name: PresenceActionName, idOf: UserIdOf) => async (c: Ctx) => {
  const caller = await requireCaller(c);
  const userId = targetUserId(caller, idOf(c));
  assertCanWrite(caller, userId);
  const result = await ACTIONS[name](c, caller, userPresenceStub(c.env, caller.tenantId, userId));
  await handOnWrite(c, caller, userId, result);
  // D7: `200` with an empty body.
  return c.body(null, 200);
};

/** Any other segment after a presence resource; the name is quoted as the caller sent it. */
export const unknownPresenceAction = (c: Ctx): never => {
  throw notFound(`The presence resource has no action '${c.req.param("action")}'.`);
};
