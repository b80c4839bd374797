import type { NotificationJob } from "./notifications/jobs";
import type { AppThrottle } from "./objects/app-throttle";
import type { PresenceHub } from "./objects/presence-hub";
import type { SubscriptionRegistry } from "./objects/subscription-registry";
import type { UserPresence } from "./objects/user-presence";

/** The Worker's bindings (wrangler.toml, .dev.vars, secrets). */
export interface Env {
  USER_PRESENCE: DurableObjectNamespace<UserPresence>;
  /** One per multi-user watch socket. */
  PRESENCE_HUB: DurableObjectNamespace<PresenceHub>;
  /** One per (tenant, application): that application's change-notification subscriptions. */
  SUBSCRIPTION_REGISTRY: DurableObjectNamespace<SubscriptionRegistry>;
  /** Webhook deliveries, retried with backoff. */
  NOTIFICATIONS: Queue<NotificationJob>;
  /** Shared secret for HS256 tokens (local development, tests). */
  AUTH_HS256_SECRET?: string;
  /** "true" in local development only (.dev.vars, never wrangler.toml): enables `POST /dev/token`. */
  DEV_MODE?: string;
  /** Hosts that may receive notifications over plain http (comma-separated); none by default. */
  NOTIFICATION_HTTP_HOSTS?: string;
  /** The private RSA JWK (JSON) that signs validationTokens; its public half is served at /.well-known/jwks.json. */
  NOTIFICATION_SIGNING_KEY?: string;
  /** The `iss` of validationTokens. */
  VALIDATION_TOKEN_ISSUER?: string;
  /** How long an endpoint has to answer the validation handshake (default 10000 ms). */
  VALIDATION_TIMEOUT_MS?: string;
  /** Test-only: shorter fade steps for the reliability checks; never set in production. */
  TEST_FADE_IDLE_AFTER_SECONDS?: string;
  TEST_FADE_AWAY_AFTER_SECONDS?: string;
  /** D26: active subscriptions per (tenant, app), default 1000. */
  SUBSCRIPTIONS_PER_APP?: string;
  /** How long a first delivery may take before it counts as failed (default 3000 ms; retries get 10000 ms). */
  DELIVERY_TIMEOUT_MS?: string;
  /** One throttle per (tenant, app), named `{tenantId}:{appId}` (D20). */
  APP_THROTTLE: DurableObjectNamespace<AppThrottle>;
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
      durableNamespaces: "UserPresence" | "PresenceHub" | "SubscriptionRegistry" | "AppThrottle";
    }
  }
}
