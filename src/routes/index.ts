import type { Context, Hono } from "hono";
import { canonicalPathGetter } from "../http/canonical-path";
import type { AppEnv } from "../http/context";
import { methodNotAllowed } from "../http/errors";
import { type DispatchRequest, jsonBatch } from "../http/json-batch";
import { queryOptions } from "../http/query-options";
import { getPresencesByUserId } from "./communications";
import { patchMailboxSettings, readMailboxSettings } from "./mailbox-settings";
import {
  callerSelf,
  communicationsPresenceContext,
  PRESENCE_PROPERTIES,
  presenceAction,
  readPresence,
  unknownPresenceAction,
  userIdParam,
  userPresenceContext,
} from "./presence";
import {
  createSubscription,
  deleteSubscription,
  getSubscription,
  listSubscriptions,
  reauthorizeSubscription,
  updateSubscription,
} from "./subscriptions";
import { watchPresences, watchUserPresence } from "./watch";

type Handler = (c: Context<AppEnv>) => Response | Promise<Response>;

interface Route {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Below `/v1.0` and `/beta` (D19); literal segments match in any case (D23). */
  path: string;
  handler: Handler;
  /** The properties `$select` may name here (D21); any `$` option elsewhere is a 400. */
  select?: readonly string[];
  /** A bound or unbound action: its last segment may carry the `microsoft.graph.` namespace (D23). */
  action?: true;
}

const me = callerSelf;
const byId = userIdParam;

/**
 * Every route of the API, each path written out once. Watch routes come first:
 * `/communications/presences/watch` would otherwise read as a user id.
 */
export function apiRoutes(dispatch: DispatchRequest): readonly Route[] {
  return [
    { method: "GET", path: "/me/presence/watch", handler: watchUserPresence(me) },
    { method: "GET", path: "/users/:id/presence/watch", handler: watchUserPresence(byId) },
    { method: "GET", path: "/communications/presences/:id/watch", handler: watchUserPresence(byId) },
    { method: "GET", path: "/communications/presences/watch", handler: watchPresences },

    {
      method: "GET",
      path: "/me/presence",
      handler: readPresence(me, userPresenceContext),
      select: PRESENCE_PROPERTIES,
    },
    {
      method: "GET",
      path: "/users/:id/presence",
      handler: readPresence(byId, userPresenceContext),
      select: PRESENCE_PROPERTIES,
    },
    {
      method: "GET",
      path: "/communications/presences/:id",
      handler: readPresence(byId, communicationsPresenceContext),
      select: PRESENCE_PROPERTIES,
    },
    {
      method: "POST",
      path: "/communications/getPresencesByUserId",
      handler: getPresencesByUserId,
      select: PRESENCE_PROPERTIES,
      action: true,
    },

    { method: "POST", path: "/me/presence/setPresence", handler: presenceAction("setPresence", me), action: true },
    { method: "POST", path: "/me/presence/clearPresence", handler: presenceAction("clearPresence", me), action: true },
    {
      method: "POST",
      path: "/me/presence/setUserPreferredPresence",
      handler: presenceAction("setUserPreferredPresence", me),
      action: true,
    },
    {
      method: "POST",
      path: "/me/presence/clearUserPreferredPresence",
      handler: presenceAction("clearUserPreferredPresence", me),
      action: true,
    },
    {
      method: "POST",
      path: "/me/presence/setStatusMessage",
      handler: presenceAction("setStatusMessage", me),
      action: true,
    },
    {
      method: "POST",
      path: "/me/presence/setManualLocation",
      handler: presenceAction("setManualLocation", me),
      action: true,
    },
    {
      method: "POST",
      path: "/me/presence/setAutomaticLocation",
      handler: presenceAction("setAutomaticLocation", me),
      action: true,
    },
    {
      method: "POST",
      path: "/me/presence/clearAutomaticLocation",
      handler: presenceAction("clearAutomaticLocation", me),
      action: true,
    },
    { method: "POST", path: "/me/presence/clearLocation", handler: presenceAction("clearLocation", me), action: true },

    {
      method: "POST",
      path: "/users/:id/presence/setPresence",
      handler: presenceAction("setPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/clearPresence",
      handler: presenceAction("clearPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/setUserPreferredPresence",
      handler: presenceAction("setUserPreferredPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/clearUserPreferredPresence",
      handler: presenceAction("clearUserPreferredPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/setStatusMessage",
      handler: presenceAction("setStatusMessage", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/setManualLocation",
      handler: presenceAction("setManualLocation", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/setAutomaticLocation",
      handler: presenceAction("setAutomaticLocation", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/clearAutomaticLocation",
      handler: presenceAction("clearAutomaticLocation", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/users/:id/presence/clearLocation",
      handler: presenceAction("clearLocation", byId),
      action: true,
    },

    {
      method: "POST",
      path: "/communications/presences/:id/setPresence",
      handler: presenceAction("setPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/clearPresence",
      handler: presenceAction("clearPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/setUserPreferredPresence",
      handler: presenceAction("setUserPreferredPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/clearUserPreferredPresence",
      handler: presenceAction("clearUserPreferredPresence", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/setStatusMessage",
      handler: presenceAction("setStatusMessage", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/setManualLocation",
      handler: presenceAction("setManualLocation", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/setAutomaticLocation",
      handler: presenceAction("setAutomaticLocation", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/clearAutomaticLocation",
      handler: presenceAction("clearAutomaticLocation", byId),
      action: true,
    },
    {
      method: "POST",
      path: "/communications/presences/:id/clearLocation",
      handler: presenceAction("clearLocation", byId),
      action: true,
    },

    { method: "GET", path: "/me/mailboxSettings", handler: readMailboxSettings(me) },
    { method: "PATCH", path: "/me/mailboxSettings", handler: patchMailboxSettings(me) },
    { method: "GET", path: "/users/:id/mailboxSettings", handler: readMailboxSettings(byId) },
    { method: "PATCH", path: "/users/:id/mailboxSettings", handler: patchMailboxSettings(byId) },

    { method: "POST", path: "/subscriptions", handler: createSubscription },
    { method: "GET", path: "/subscriptions", handler: listSubscriptions },
    { method: "GET", path: "/subscriptions/:id", handler: getSubscription },
    { method: "PATCH", path: "/subscriptions/:id", handler: updateSubscription },
    { method: "DELETE", path: "/subscriptions/:id", handler: deleteSubscription },
    { method: "POST", path: "/subscriptions/:id/reauthorize", handler: reauthorizeSubscription, action: true },

    { method: "POST", path: "/$batch", handler: (c) => jsonBatch(c, dispatch) },
  ];
}

/** Any other segment after a presence resource: the name of an action it does not have (404). */
const UNKNOWN_ACTION_PATHS = [
  "/me/presence/:action",
  "/users/:id/presence/:action",
  "/communications/presences/:id/:action",
];

/**
 * Registers the table on `app` under `version` (`/v1.0` or `/beta`, D19): each route behind its
 * query-option check, then for each path a 405 naming the methods it takes, then the unknown
 * actions. Directly on the one app, not as a nested app mounted twice: one router, one lookup.
 */
export function registerApiRoutes(app: Hono<AppEnv>, routes: readonly Route[], version: string): void {
  const methodsByPath = new Map<string, string[]>();
  for (const { method, path, handler, select } of routes) {
    app.on(method, version + path, queryOptions(select), handler);
    methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method]);
  }
  for (const [path, methods] of methodsByPath) {
    app.all(version + path, () => {
      throw methodNotAllowed(methods.join(", "));
    });
  }
  for (const path of UNKNOWN_ACTION_PATHS) app.all(version + path, unknownPresenceAction);
}

/** The router's view of a request path, for `new Hono({ getPath })` (D23). */
export function canonicalPathOf(routes: readonly Route[]) {
  return canonicalPathGetter(
    ["/v1.0", "/beta", ...routes.map((r) => r.path)],
    routes.filter((r) => r.action).map((r) => r.path.split("/").at(-1) ?? ""),
  );
}
