import type { AppThrottle } from "./objects/app-throttle";
import type { UserPresence } from "./objects/user-presence";

/** The Worker's bindings (wrangler.toml, .dev.vars, secrets). */
export interface Env {
  USER_PRESENCE: DurableObjectNamespace<UserPresence>;
  /** One throttle per (tenant, app), named `{tenantId}:{appId}` (D20). */
  APP_THROTTLE: DurableObjectNamespace<AppThrottle>;
  /** Shared secret for HS256 tokens (local development, tests). */
  AUTH_HS256_SECRET?: string;
  /** The OpenID provider's key set, e.g. `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`. */
  AUTH_JWKS_URL?: string;
  /** Accepted `iss` values, comma-separated; `{tenantid}` stands for the token's own `tid`. */
  AUTH_ISSUERS?: string;
  /** Accepted `aud` values, comma-separated (the API's client id and/or Application ID URI). */
  AUTH_AUDIENCE?: string;
  /** Origins allowed to call from a browser, comma-separated; `*` stands for one host label or a port. */
  CORS_ORIGINS?: string;
  /** D20 limits per (tenant, app) and 30 s; the production defaults apply when unset. */
  THROTTLE_READS_PER_30S?: string;
  THROTTLE_ALL_PER_30S?: string;
}

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // The test environment (`env` from "cloudflare:workers") has these bindings.
    interface Env extends WorkerEnv {}
    // Types `exports` from "cloudflare:workers" (ctx.exports, and the test harness).
    interface GlobalProps {
      mainModule: typeof import("./index");
      durableNamespaces: "UserPresence" | "AppThrottle";
    }
  }
}
