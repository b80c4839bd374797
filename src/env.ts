import type { NotificationJob } from "./notifications/jobs";

// The bindings in wrangler.toml (Durable Objects, the queue, [vars]) are typed by
// worker-configuration.d.ts, which `npm run types` generates from it (`GeneratedEnv`), and
// `npm run typecheck` fails while that file is stale. Typed here is only what wrangler.toml
// cannot declare: settings a deployment may leave unset. docs/configuration.md describes each.

/**
 * Secrets (`wrangler secret put`, `.dev.vars` locally), local and test switches, and the optional
 * [vars] that wrangler.toml lists as comments. Absent unless configured, so optional here: a
 * deployment that uncomments one of them keeps this type, and the code keeps its defaults.
 */
interface OptionalSettings {
  /** Shared secret for HS256 tokens (local development, tests, a staging service). */
  AUTH_HS256_SECRET?: string;
  /** "true" in local development only (.dev.vars, never wrangler.toml): enables `POST /dev/token`. */
  DEV_MODE?: string;
  /** Secret: the bearer token of the operator routes (`/ops`, dead letters); unset, they do not exist. */
  OPERATOR_TOKEN?: string;
  /** The private RSA JWK (JSON) that signs validationTokens; its public half is served at /.well-known/jwks.json. */
  NOTIFICATION_SIGNING_KEY?: string;
  /** The `iss` of validationTokens. */
  VALIDATION_TOKEN_ISSUER?: string;
  /** How long an endpoint has to answer the validation handshake (default 10000 ms). */
  VALIDATION_TIMEOUT_MS?: string;
  /** How long a first delivery may take before it counts as failed (default 3000 ms; retries get 10000 ms). */
  DELIVERY_TIMEOUT_MS?: string;
  /** Test-only: shorter fade steps for the reliability checks; never set in production. */
  TEST_FADE_IDLE_AFTER_SECONDS?: string;
  TEST_FADE_AWAY_AFTER_SECONDS?: string;
  /** D26: active subscriptions per (tenant, app), default 1000. */
  SUBSCRIPTIONS_PER_APP?: string;
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
  /** Hubs in each group a region's watch sockets fill before spilling to the next (default 4). */
  WATCH_HUBS_PER_REGION?: string;
  /** Sockets one hub holds at most; a full hub passes a new socket on (default 4000). */
  WATCH_SOCKETS_PER_HUB?: string;
  /** D30 read views: shards of a tenant's users per region (default 16). */
  READ_VIEW_SHARDS?: string;
  /** D30: how long a read view answers a user without word from it (default 5000 ms). */
  READ_VIEW_LEASE_MS?: string;
  /** How long a read view keeps a user nobody reads (default 600000 ms). */
  READ_VIEW_IDLE_MS?: string;
  /** Tests and the bench only: a request header naming the caller's region, instead of the continent. */
  TEST_REGION_HEADER?: string;
  /** The bench only: calls from another region than TEST_HOME_REGION to a user's object wait this long. */
  TEST_CROSS_REGION_DELAY_MS?: string;
  TEST_HOME_REGION?: string;
}

/** The Worker's bindings. */
export interface Env
  extends Omit<GeneratedEnv, keyof OptionalSettings | "NOTIFICATIONS" | "METRICS">,
    OptionalSettings {
  /** Webhook deliveries, retried with backoff. (Generated as `Queue`: wrangler.toml cannot name the message type.) */
  NOTIFICATIONS: Queue<NotificationJob>;
  /**
   * D31 metrics (src/observability/metrics.ts). Optional: a deployment without the binding (or a
   * Worker built before it) serves every request the same, without metrics.
   */
  METRICS?: AnalyticsEngineDataset;
}

type SettingsNotInWranglerToml = Omit<OptionalSettings, keyof GeneratedEnv>;
declare global {
  namespace Cloudflare {
    // The test environment (`env` from "cloudflare:workers") has the optional settings too; the
    // generated file gives it wrangler.toml's bindings and types `exports` (GlobalProps).
    interface Env extends SettingsNotInWranglerToml {}
  }
}
