import type { UserPresence } from "./objects/user-presence";

/** The Worker's bindings (wrangler.toml, .dev.vars, secrets). */
export interface Env {
  USER_PRESENCE: DurableObjectNamespace<UserPresence>;
  /** Shared secret for HS256 tokens (local development, tests). */
  AUTH_HS256_SECRET?: string;
  /** The OpenID provider's key set, e.g. `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`. */
  AUTH_JWKS_URL?: string;
  /** Accepted `iss` values, comma-separated; `{tenantid}` stands for the token's own `tid`. */
  AUTH_ISSUERS?: string;
  /** Accepted `aud` values, comma-separated (the API's client id and/or Application ID URI). */
  AUTH_AUDIENCE?: string;
}

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // The test environment (`env` from "cloudflare:workers") has these bindings.
    interface Env extends WorkerEnv {}
    // Types `exports` from "cloudflare:workers" (ctx.exports, and the test harness).
    interface GlobalProps {
      mainModule: typeof import("./index");
      durableNamespaces: "UserPresence";
    }
  }
}
