import type { Context } from "hono";
import { readConfig } from "../config";
import { type Caller, serializeCaller } from "../domain/caller";
import { preferredHub } from "../domain/fanout";
import { padSequenceNumber } from "../domain/sequence-number";
import { WATCH_PROTOCOL } from "../domain/watch-messages";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest, GraphError } from "../http/errors";
import { assertCanRead, audienceFor, targetUserId } from "../http/permissions";
import { regionOf } from "../http/region";
import { hubObjectName, presenceHubStub } from "../objects/names";
import { HUB_FULL_HEADER, WATCH_HEADERS } from "../objects/watch-forwarding";
import type { UserIdOf } from "./presence";

type Ctx = Context<AppEnv>;

/** Groups a region may grow to: sockets fill the first group of hubs, then spill to the next. */
const HUB_GROUPS = 256;
/** Hubs tried in a group before the next group is tried. */
const TRIES_PER_GROUP = 2;
/** How long this isolate starts at a group it found the ones before full, before it looks again. */
const FULL_GROUPS_REMEMBERED_MS = 60_000;
/** Per tenant and region: the first group not known to be full, and until when that is known. */
const firstOpenGroup = new Map<string, { group: number; until: number }>();
const MAX_REMEMBERED_REGIONS = 10_000;

/**
 * Browsers cannot set headers on a WebSocket, so they may offer the token as
 * a subprotocol: `new WebSocket(url, ["presence.v1", "bearer." + token])`. The
 * answer names only `presence.v1`; the token is never echoed, and never taken
 * from the URL.
 */
function bearerFromSubprotocols(c: Ctx): { authorization: string | undefined; viaSubprotocol: boolean } {
  const offered = (c.req.header("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const bearer = offered.find((p) => p.startsWith("bearer."));
  if (!bearer)
    return { authorization: c.req.header("authorization"), viaSubprotocol: offered.includes(WATCH_PROTOCOL) };
  if (!offered.includes(WATCH_PROTOCOL)) {
    throw badRequest(`Offer the subprotocol '${WATCH_PROTOCOL}' beside the 'bearer.<token>' one.`);
  }
  return { authorization: `Bearer ${bearer.slice("bearer.".length)}`, viaSubprotocol: true };
}

/** Checks the upgrade and the caller; a refusal is an HTTP error with the Graph envelope, not a socket. */
async function watcher(c: Ctx) {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new GraphError(426, "UpgradeRequired", "This endpoint is a WebSocket: send 'Upgrade: websocket'.", {
      Upgrade: "websocket",
    });
  }
  const { authorization, viaSubprotocol } = bearerFromSubprotocols(c);
  // Opening a watch counts as a read against the caller's limits (D20).
  const caller = await requireCaller(c, "read", authorization);
  return { caller, viaSubprotocol };
}

const SEQUENCE_NUMBER = /^\d{1,20}$/;

/**
 * Hands the upgrade to a hub of the caller's tenant in the region the request came from
 * (sockets stay near their clients). Hubs come in groups: a socket goes to a hub of the first
 * group, and only when those it tries are full to the next group, so a tenant's sockets sit in
 * as few hubs as their number needs (a change reaches a user's watchers through fewer hubs),
 * and the pool grows with the tenant without any coordination. A single-user socket tries its
 * user's preferred hub first, any other socket (or a second try) a random one. Only what the
 * hub needs is forwarded, set here.
 */
async function openOnHub(
  c: Ctx,
  caller: Caller,
  viaSubprotocol: boolean,
  single?: { userId: string; headers: Record<string, string> },
) {
  const headers = new Headers({
    upgrade: "websocket",
    [WATCH_HEADERS.caller]: serializeCaller(caller),
    ...single?.headers,
  });
  if (viaSubprotocol) headers.set(WATCH_HEADERS.subprotocol, "1");
  const region = regionOf(c.req.raw, c.env);
  const perGroup = readConfig(c.env).hubsPerGroup;
  // A large tenant's first groups are full: start where this isolate last found room.
  const key = `${caller.tenantId}:${region}`;
  const known = firstOpenGroup.get(key);
  const start = known && Date.now() < known.until ? known.group : 0;
  for (let group = start; group < HUB_GROUPS; group++) {
    for (let attempt = 0; attempt < TRIES_PER_GROUP; attempt++) {
      const index =
        group * perGroup +
        (single && attempt === 0 ? preferredHub(single.userId, perGroup) : Math.floor(Math.random() * perGroup));
      const hub = presenceHubStub(c.env, hubObjectName(caller.tenantId, region, index));
      const response = await hub.fetch(new Request(c.req.url, { method: "GET", headers }));
      if (response.headers.get(HUB_FULL_HEADER) !== null) continue;
      // Remembered for a while only: sockets close, and the first groups have room again.
      if (group > start) {
        if (firstOpenGroup.size >= MAX_REMEMBERED_REGIONS) firstOpenGroup.clear();
        firstOpenGroup.set(key, { group, until: Date.now() + FULL_GROUPS_REMEMBERED_MS });
      }
      return response;
    }
  }
  throw new GraphError(503, "serviceNotAvailable", "Every watch hub tried is full. Please retry in a moment.", {
    "Retry-After": "5",
  });
}

/** One user: `/me/presence/watch`, `/users/{id}/presence/watch`, `/communications/presences/{id}/watch`. */
export const watchUserPresence = (idOf: UserIdOf) => async (c: Ctx) => {
  const { caller, viaSubprotocol } = await watcher(c);
  const userId = targetUserId(caller, idOf(c));
  assertCanRead(caller, userId);
  const since = c.req.query("since");
  if (since !== undefined && !SEQUENCE_NUMBER.test(since)) {
    throw badRequest("since must be a sequenceNumber you received (digits).");
  }
  const headers: Record<string, string> = {
    [WATCH_HEADERS.user]: userId,
    [WATCH_HEADERS.audience]: audienceFor(caller, userId),
  };
  if (since !== undefined) headers[WATCH_HEADERS.since] = padSequenceNumber(since);
  return openOnHub(c, caller, viaSubprotocol, { userId, headers });
};

/** Many users on one socket: `/communications/presences/watch`, subscribed to with messages. */
export async function watchPresences(c: Ctx) {
  const { caller, viaSubprotocol } = await watcher(c);
  return openOnHub(c, caller, viaSubprotocol);
}
