import type { NotificationJob } from "./notifications/jobs";
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
  /** How long a first delivery may take before it counts as failed (default 3000 ms; retries get 10000 ms). */
  DELIVERY_TIMEOUT_MS?: string;
}

type WorkerEnv = Env;
declare global {
  namespace Cloudflare {
    // The test environment (`env` from "cloudflare:workers") has these bindings.
    interface Env extends WorkerEnv {}
    // Types `exports` from "cloudflare:workers" (ctx.exports, and the test harness).
    interface GlobalProps {
      mainModule: typeof import("./index");
      durableNamespaces: "UserPresence" | "PresenceHub" | "SubscriptionRegistry";
    }
  }
}
