import { type Context, Hono } from "hono";
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
import { badRequest, forbidden, methodNotAllowed, notFound } from "../http/errors";
import { assertCanRead, assertCanWrite, audienceFor, targetUserId } from "../http/permissions";
import { serviceRoot } from "../http/service-root";
import { userPresenceStub } from "../objects/names";

type Ctx = Context<AppEnv>;
type Stub = ReturnType<typeof userPresenceStub>;

/** The presence resource as Graph returns it: `@odata.context`, `id`, then the properties. */
export function presenceResource(context: string | undefined, userId: string, view: PresenceView) {
  return { ...(context ? { "@odata.context": context } : {}), id: userId, ...view };
}

/** An action's success: D7, `200` with an empty body. */
const done = (c: Ctx) => c.body(null, 200);

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

type ActionHandler = (c: Ctx, caller: Caller, stub: Stub) => Promise<Response>;

/** The bound actions of `microsoft.graph.presence` (spec 1.4-1.8). */
const ACTIONS: Record<string, ActionHandler> = {
  async setPresence(c, caller, stub) {
    const body = await readJsonBody(c.req.raw, SetPresenceBody);
    assertOwnSession(caller, body.sessionId);
    await stub.setSession(toSetSessionCommand(body));
    return done(c);
  },
  async clearPresence(c, caller, stub) {
    const body = await readJsonBody(c.req.raw, ClearPresenceBody);
    const sessionId = assertOwnSession(caller, body.sessionId);
    if (!(await stub.clearSession(sessionId))) {
      throw notFound(`The user has no presence session '${body.sessionId}'.`);
    }
    return done(c);
  },
  async setUserPreferredPresence(c, _caller, stub) {
    const body = await readJsonBody(c.req.raw, SetPreferredPresenceBody);
    await stub.setPreferred(toSetPreferredCommand(body));
    return done(c);
  },
  async clearUserPreferredPresence(c, _caller, stub) {
    await readJsonBody(c.req.raw, EmptyBody);
    await stub.clearPreferred();
    return done(c);
  },
  async setStatusMessage(c, _caller, stub) {
    const body = await readJsonBody(c.req.raw, SetStatusMessageBody);
    await stub.setStatusMessage(toSetStatusMessageCommand(body.statusMessage, Date.now()));
    return done(c);
  },
  async setManualLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    const { workLocationType, placeId } = parseWorkLocation(await readJsonBody(c.req.raw, SetWorkLocationBody));
    // The manual layer is the user's own choice: one slot, the latest wins.
    await stub.setWorkLocation("manual", "", workLocationType, placeId);
    return done(c);
  },
  async setAutomaticLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    const { workLocationType, placeId } = parseWorkLocation(await readJsonBody(c.req.raw, SetWorkLocationBody));
    // Automatic signals come from several agents (Teams, docking apps): one per application.
    await stub.setWorkLocation("automatic", caller.appId, workLocationType, placeId);
    return done(c);
  },
  async clearAutomaticLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    await readJsonBody(c.req.raw, EmptyBody);
    await stub.clearWorkLocation("automatic");
    return done(c);
  },
  async clearLocation(c, caller, stub) {
    assertDelegatedForWorkLocation(caller);
    await readJsonBody(c.req.raw, EmptyBody);
    await stub.clearWorkLocation();
    return done(c);
  },
};

/** OData lets a bound action be named with its namespace: `microsoft.graph.setPresence`. */
function actionHandler(segment: string): ActionHandler | undefined {
  const name = segment.startsWith("microsoft.graph.") ? segment.slice("microsoft.graph.".length) : segment;
  return Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
}

/** The three ways Graph addresses a user's presence (spec 1): path, user id parameter, context. */
const PRESENCE_PATHS = [
  {
    path: "/me/presence",
    idOf: () => "me",
    context: (root: string, id: string) => `${root}/$metadata#users('${id}')/presence/$entity`,
  },
  {
    path: "/users/:id/presence",
    idOf: (c: Ctx) => c.req.param("id") ?? "",
    context: (root: string, id: string) => `${root}/$metadata#users('${id}')/presence/$entity`,
  },
  {
    path: "/communications/presences/:id",
    idOf: (c: Ctx) => c.req.param("id") ?? "",
    context: (root: string) => `${root}/$metadata#communications/presences/$entity`,
  },
] as const;

export const presenceRoutes = new Hono<AppEnv>({ strict: false });

for (const { path, idOf, context } of PRESENCE_PATHS) {
  presenceRoutes.get(path, async (c) => {
    const caller = await requireCaller(c, "read");
    const userId = targetUserId(caller, idOf(c));
    assertCanRead(caller, userId);
    const view = await userPresenceStub(c.env, caller.tenantId, userId).getPresence(audienceFor(caller, userId));
    return c.json(presenceResource(context(serviceRoot(c), userId), userId, view));
  });
  presenceRoutes.all(path, () => {
    throw methodNotAllowed("GET");
  });

  presenceRoutes.post(`${path}/:action`, async (c) => {
    const handler = actionHandler(c.req.param("action"));
    if (!handler) throw notFound(`The presence resource has no action '${c.req.param("action")}'.`);
    const caller = await requireCaller(c);
    const userId = targetUserId(caller, idOf(c));
    assertCanWrite(caller, userId);
    return handler(c, caller, userPresenceStub(c.env, caller.tenantId, userId));
  });
  presenceRoutes.all(`${path}/:action`, (c) => {
    if (!actionHandler(c.req.param("action"))) {
      throw notFound(`The presence resource has no action '${c.req.param("action")}'.`);
    }
    throw methodNotAllowed("POST");
  });
}
