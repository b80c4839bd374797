import type { Env } from "../env";
import type { Caller } from "./auth";

/** Hono's typing of what the middleware puts on the request context. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    clientRequestId: string;
    caller: Caller;
  };
}
