import type { Context } from "hono";
import { routePath } from "hono/route";
import type { RequestKind } from "../domain/throttle";
import { authenticate, type Caller } from "./auth";
import type { AppEnv } from "./context";
import { throttle } from "./throttle";

/**
 * Authenticates the request (401 on failure), remembers the caller for the
 * request's log line, and counts the request against the caller's (tenant,
 * app) limits (429 over them). Every route calls this before it touches a
 * user's Durable Object; `read` is for D20's reads (GET presence and
 * getPresencesByUserId), everything else is `other`. WebSocket upgrades pass
 * the `authorization` they took from the subprotocol.
 */
export async function requireCaller(
  c: Context<AppEnv>,
  kind: RequestKind = "other",
  authorization = c.req.header("authorization"),
): Promise<Caller> {
  const caller = await authenticate(authorization, c.env);
  c.set("caller", caller);
  await throttle(c.env, caller, kind, routePath(c));
  return caller;
}
