import type { PresenceHub } from "./objects/presence-hub";
import type { UserPresence } from "./objects/user-presence";

/** The Worker's bindings (wrangler.toml, .dev.vars, secrets). */
export interface Env {
  USER_PRESENCE: DurableObjectNamespace<UserPresence>;
  /** One per multi-user watch socket. */
  PRESENCE_HUB: DurableObjectNamespace<PresenceHub>;
  /** Shared secret for HS256 tokens (local development, tests). */
  AUTH_HS256_SECRET?: string;
}

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // The test environment (`env` from "cloudflare:workers") has these bindings.
    interface Env extends WorkerEnv {}
    // Types `exports` from "cloudflare:workers" (ctx.exports, and the test harness).
    interface GlobalProps {
      mainModule: typeof import("./index");
      durableNamespaces: "UserPresence" | "PresenceHub";
    }
  }
}
