import type { Context } from "hono";
import { authenticate, type Caller } from "./auth";
import type { AppEnv } from "./context";

/** Authenticates the request (401 on failure) and remembers the caller for the request's log line. */
export async function requireCaller(c: Context<AppEnv>): Promise<Caller> {
  const caller = await authenticate(c.req.header("authorization"), c.env);
  c.set("caller", caller);
  return caller;
}
