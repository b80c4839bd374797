import { DEFAULT_FADE, type FadeTimings } from "./domain/aggregate";
import type { ThrottleLimits } from "./domain/throttle";
import type { Env } from "./env";

/**
 * Every setting of the service, read from the bindings in one place with one rule each
 * (docs/configuration.md describes them). Code asks `readConfig(env)` and never reads a
 * setting's binding itself.
 */
export interface Config {
  /** HS256 tokens (local development, tests, a staging service). */
  hs256Secret: string | undefined;
  /** An OpenID provider's tokens: its key set, and the issuers and audiences accepted. */
  jwksUrl: string | undefined;
  issuers: string[];
  audiences: string[];
  /** `POST /dev/token` exists (local development only, and only with an HS256 secret). */
  devTokens: boolean;
  /** The bearer token of the operator routes (`/ops`); undefined (routes absent) unless set and long enough. */
  operatorToken: string | undefined;
  /** Origins allowed to call from a browser; `*` stands for one host label or a port. */
  corsOrigins: string[];
  /** D20, per (tenant, app) and 30 s. */
  throttle: ThrottleLimits;
  /** D26, active subscriptions per (tenant, app). */
  subscriptionsPerApp: number;
  /** Receivers trusted over plain http and on private addresses (lower-case host names). */
  notificationHttpHosts: ReadonlySet<string>;
  /** How long a receiver has to answer the validation handshake. */
  validationTimeoutMs: number;
  /** How long a first delivery may take (retries get RETRY_DELIVERY_TIMEOUT_MS). */
  firstDeliveryTimeoutMs: number;
  /** The private JWK (JSON) that signs validationTokens, and their issuer. */
  signingKey: string | undefined;
  validationTokenIssuer: string;
  /** D5's fade steps (shortened only by the reliability checks' test-only settings). */
  fade: FadeTimings;
  /** Watch hubs: how many in each group of a region, and how many sockets one holds. */
  hubsPerGroup: number;
  socketsPerHub: number;
  /** D30 read views: shards of a tenant's users per region, and how long a view may go without word from a user. */
  readViewShards: number;
  readViewLeaseMs: number;
  /** A view lets go of a user nobody read for this long. */
  readViewIdleMs: number;
  /** Tests and the bench only: a request header that picks the region (http/region.ts). */
  testRegionHeader: string | undefined;
  /** The bench only: the delay of a call from another region to a user's object, and the users' home region. */
  crossRegion: { delayMs: number; homeRegion: string } | null;
}

/** D20's numbers, the defaults when THROTTLE_* are unset. */
export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = Object.freeze({ reads: 1_500, all: 10_000 });
/** A shorter OPERATOR_TOKEN could be guessed: the operator routes stay off. */
export const MIN_OPERATOR_TOKEN_LENGTH = 32;
/** D26's number. */
export const DEFAULT_SUBSCRIPTIONS_PER_APP = 1000;
/** Graph gives an endpoint 10 s to echo the validation token (spec 5.3). */
export const DEFAULT_VALIDATION_TIMEOUT_MS = 10_000;
/** Spec 5.5: a 2xx within 3 s is a delivery. */
export const DEFAULT_FIRST_DELIVERY_TIMEOUT_MS = 3_000;
export const DEFAULT_VALIDATION_TOKEN_ISSUER = "urn:graph-presence-edge";
/**
 * Few hubs per group keep a popular user's watchers in few hubs, so a change costs few calls
 * (measured locally with 500 watchers: 4 hubs put a change 30% closer to the floor than 16).
 */
export const DEFAULT_HUBS_PER_GROUP = 4;
/** Well under a Durable Object's 32,768 hibernatable sockets: a change to all of them is one hub's work. */
export const DEFAULT_SOCKETS_PER_HUB = 4_000;

/**
 * D30's read views. 16 shards: a 650-id batch costs at most 16 view calls, and a 100,000-user
 * tenant's views hold about 6,000 users each per region (a few MiB of memory).
 */
export const DEFAULT_READ_VIEW_SHARDS = 16;
/** D30: at most 5 s without word from the user's relays or object. */
export const DEFAULT_READ_VIEW_LEASE_MS = 5_000;
/** A user nobody read in a region for 10 minutes is let go there (its relays stop sending to the view). */
export const DEFAULT_READ_VIEW_IDLE_MS = 10 * 60_000;

/** A comma-separated binding ("a, b,c") as a list, without empty entries. */
export function commaSeparated(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * A numeric binding. Vars arrive as strings (or numbers, from TOML); a missing, non-numeric or
 * non-positive value falls back to the default rather than silently disabling what it configures.
 */
export function positiveInteger(value: unknown, fallback: number): number {
  const parsed = typeof value === "number" ? value : Number(String(value ?? "").trim() || Number.NaN);
  return Number.isSafeInteger(parsed) && parsed > 0 ? parsed : fallback;
}

/** D5's fade steps, unless the reliability checks shorten them (both set, idle before away). */
function fadeTimings(env: Env): FadeTimings {
  const idle = positiveInteger(env.TEST_FADE_IDLE_AFTER_SECONDS, 0);
  const away = positiveInteger(env.TEST_FADE_AWAY_AFTER_SECONDS, 0);
  return idle > 0 && away > idle ? { idleAfterMs: idle * 1000, awayAfterMs: away * 1000 } : DEFAULT_FADE;
}

/** The bench's simulated distance between regions, when both of its settings are given. */
function crossRegion(env: Env): Config["crossRegion"] {
  const delayMs = positiveInteger(env.TEST_CROSS_REGION_DELAY_MS, 0);
  const homeRegion = env.TEST_HOME_REGION?.trim().toLowerCase();
  return delayMs > 0 && homeRegion ? { delayMs, homeRegion } : null;
}

// Bindings do not change while an isolate lives: each env object is read once.
const read = new WeakMap<Env, Config>();

export function readConfig(env: Env): Config {
  let config = read.get(env);
  if (!config) {
    config = Object.freeze({
      hs256Secret: env.AUTH_HS256_SECRET || undefined,
      jwksUrl: env.AUTH_JWKS_URL || undefined,
      issuers: commaSeparated(env.AUTH_ISSUERS),
      audiences: commaSeparated(env.AUTH_AUDIENCE),
      devTokens: env.DEV_MODE === "true" && Boolean(env.AUTH_HS256_SECRET),
      operatorToken: (env.OPERATOR_TOKEN?.length ?? 0) >= MIN_OPERATOR_TOKEN_LENGTH ? env.OPERATOR_TOKEN : undefined,
      corsOrigins: commaSeparated(env.CORS_ORIGINS),
      throttle: {
        reads: positiveInteger(env.THROTTLE_READS_PER_30S, DEFAULT_THROTTLE_LIMITS.reads),
        all: positiveInteger(env.THROTTLE_ALL_PER_30S, DEFAULT_THROTTLE_LIMITS.all),
      },
      subscriptionsPerApp: positiveInteger(env.SUBSCRIPTIONS_PER_APP, DEFAULT_SUBSCRIPTIONS_PER_APP),
      notificationHttpHosts: new Set(commaSeparated(env.NOTIFICATION_HTTP_HOSTS).map((h) => h.toLowerCase())),
      validationTimeoutMs: positiveInteger(env.VALIDATION_TIMEOUT_MS, DEFAULT_VALIDATION_TIMEOUT_MS),
      firstDeliveryTimeoutMs: positiveInteger(env.DELIVERY_TIMEOUT_MS, DEFAULT_FIRST_DELIVERY_TIMEOUT_MS),
      signingKey: env.NOTIFICATION_SIGNING_KEY || undefined,
      validationTokenIssuer: env.VALIDATION_TOKEN_ISSUER || DEFAULT_VALIDATION_TOKEN_ISSUER,
      fade: fadeTimings(env),
      hubsPerGroup: positiveInteger(env.WATCH_HUBS_PER_REGION, DEFAULT_HUBS_PER_GROUP),
      socketsPerHub: positiveInteger(env.WATCH_SOCKETS_PER_HUB, DEFAULT_SOCKETS_PER_HUB),
      readViewShards: positiveInteger(env.READ_VIEW_SHARDS, DEFAULT_READ_VIEW_SHARDS),
      readViewLeaseMs: positiveInteger(env.READ_VIEW_LEASE_MS, DEFAULT_READ_VIEW_LEASE_MS),
      readViewIdleMs: positiveInteger(env.READ_VIEW_IDLE_MS, DEFAULT_READ_VIEW_IDLE_MS),
      testRegionHeader: env.TEST_REGION_HEADER?.trim().toLowerCase() || undefined,
      crossRegion: crossRegion(env),
    });
    read.set(env, config);
  }
  return config;
}
