import type { Env } from "../env";
import type { Caller } from "./auth";

/** Hono's typing of what the middleware puts on the request context. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    clientRequestId: string;
    caller: Caller;
    /** The properties a `$select` named (D21), on the routes that take it; unset without `$select`. */
    select: readonly string[] | undefined;
  };
}
