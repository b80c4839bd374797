import { decodeProtectedHeader, type JWTPayload, errors as joseErrors, jwtVerify } from "jose";
import { type Config, readConfig } from "../config";
import type { Caller } from "../domain/caller";
import { isGuid } from "../domain/ids";
import type { Env } from "../env";
import { logError } from "../shared/log";
import { GraphError, unauthorized } from "./errors";
import { type CachedKeySet, KeysUnavailable, keySetFor } from "./jwks";

export type { Caller } from "../domain/caller";

/** Tokens minted a moment ago on another machine must not fail on clock drift; a socket lives this much past `exp` (D27). */
export const CLOCK_SKEW_SECONDS = 60;

// Importing the key once per isolate, not once per request, saves a WebCrypto import on every call.
const keyCache = new Map<string, Promise<CryptoKey>>();
function hs256Key(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "verify",
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

function tokenProblem(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "The access token has expired.";
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return error.claim === "nbf"
      ? "The access token is not valid yet."
      : `The access token's '${error.claim}' claim is invalid.`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "The access token's signing algorithm is not accepted.";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "The access token's signature is invalid.";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "The access token's signing key is not known.";
  return "The access token is malformed.";
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Reads the caller from verified claims; a token without what we need is refused. */
export function callerFromClaims(payload: JWTPayload): Caller {
  const tenantId = stringClaim(payload, "tid");
  if (!tenantId || !isGuid(tenantId)) throw unauthorized("The access token has no valid 'tid' (tenant) claim.");
  const appId = stringClaim(payload, "appid") ?? stringClaim(payload, "azp");
  if (!appId) throw unauthorized("The access token has no 'appid' or 'azp' (application) claim.");
  // Entra ID issues application ids as GUIDs. Anything else (" <guid>", "<guid> ", a name) would
  // get a throttle budget and a subscription quota of its own, so it is refused; the case of a
  // GUID is not significant, and lowering it below gives each application one budget.
  if (!isGuid(appId)) throw unauthorized("The access token's application id ('appid' or 'azp') is not a GUID.");
  // Verified tokens always carry `exp` (a required claim); a socket lives no longer (D27).
  const expiresAt = typeof payload.exp === "number" ? payload.exp * 1000 : 0;
  // D24: `idtyp` says which kind of token this is when present; a user's token
  // without `scp` is then one with no scopes, never an application's.
  const isApplication = payload.idtyp !== undefined ? payload.idtyp === "app" : payload.scp === undefined;
  if (!isApplication) {
    const scp = stringClaim(payload, "scp") ?? "";
    const userId = stringClaim(payload, "oid");
    if (!userId || !isGuid(userId)) throw unauthorized("The delegated access token has no valid 'oid' (user) claim.");
    return {
      kind: "delegated",
      tenantId: tenantId.toLowerCase(),
      userId: userId.toLowerCase(),
      appId: appId.toLowerCase(),
      scopes: new Set(scp.split(" ").filter(Boolean)),
      expiresAt,
    };
  }
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
  return {
    kind: "application",
    tenantId: tenantId.toLowerCase(),
    appId: appId.toLowerCase(),
    roles: new Set(roles),
    expiresAt,
  };
}

/** The verification keys the bindings configure; either kind, or both at once. */
interface AuthConfig {
  hs256Secret?: Promise<CryptoKey>;
  provider?: { keys: CachedKeySet; issuers: string[]; audiences: string[] };
}

function misconfigured(message: string): GraphError {
  logError({ object: "auth" }, "misconfigured", undefined, { message });
  return new GraphError(500, "generalException", "The service's token verification is not configured.");
}

function authConfig(env: Env): AuthConfig {
  const { hs256Secret, jwksUrl, issuers, audiences } = readConfig(env);
  const config: AuthConfig = {};
  if (hs256Secret) config.hs256Secret = hs256Key(hs256Secret);
  if (jwksUrl) {
    // Never accept provider tokens without both checks: any tenant's token for any app would pass.
    if (issuers.length === 0 || audiences.length === 0) {
      throw misconfigured("AUTH_JWKS_URL is set but AUTH_ISSUERS or AUTH_AUDIENCE is empty");
    }
    config.provider = { keys: keySetFor(jwksUrl), issuers, audiences };
  }
  if (!config.hs256Secret && !config.provider) {
    throw misconfigured("neither AUTH_HS256_SECRET nor AUTH_JWKS_URL is configured");
  }
  return config;
}

/**
 * Entra ID's multi-tenant issuer is `https://login.microsoftonline.com/{tenantid}/v2.0`:
 * the placeholder stands for the token's own `tid`, so a token can only claim its own tenant's issuer.
 */
function issuerAccepted(issuers: string[], payload: JWTPayload): boolean {
  const tid = stringClaim(payload, "tid");
  return issuers.some((issuer) =>
    issuer.includes("{tenantid}")
      ? tid !== undefined && issuer.replaceAll("{tenantid}", tid) === payload.iss
      : issuer === payload.iss,
  );
}

const ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"];

/** Checks the signature and the time, issuer and audience claims; the claims come back only if all pass. */
async function verifiedClaims(token: string, config: AuthConfig): Promise<JWTPayload> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized("The access token is malformed.");
  }
  // The header picks the key kind, and each kind accepts only its own algorithms,
  // so an HS256 token can never be checked against a public key (or the reverse).
  const common = { requiredClaims: ["exp"], clockTolerance: CLOCK_SKEW_SECONDS };
  try {
    if (alg === "HS256" && config.hs256Secret) {
      return (await jwtVerify(token, await config.hs256Secret, { ...common, algorithms: ["HS256"] })).payload;
    }
    const provider = config.provider;
    if (typeof alg === "string" && ASYMMETRIC_ALGORITHMS.includes(alg) && provider) {
      const { payload } = await jwtVerify(token, (header) => provider.keys.keyFor(header), {
        ...common,
        algorithms: ASYMMETRIC_ALGORITHMS,
        audience: provider.audiences,
      });
      if (!issuerAccepted(provider.issuers, payload)) throw unauthorized("The access token's issuer is not accepted.");
      return payload;
    }
  } catch (error) {
    if (error instanceof GraphError) throw error;
    if (error instanceof KeysUnavailable) {
      throw new GraphError(503, "serviceNotAvailable", "Access tokens cannot be verified right now.", {
        "Retry-After": String(error.retryAfterSeconds),
      });
    }
    throw unauthorized(tokenProblem(error));
  }
  throw unauthorized("The access token's signing algorithm is not accepted.");
}

/**
 * Callers of tokens verified lately, by configuration and token text. A client
 * sends the same token on every call of its life (an hour, from Entra ID), and
 * checking the signature and claims again each time cost about 5% of a read.
 * An entry is kept at most a minute, never past the token's `exp` (with the
 * same skew), and only for a token that passed every check; a key taken out of
 * the provider's set stops working within the minute after the set is re-read.
 *
 * The bound is in bytes, not entries: 2,000 distinct 21 KiB tokens took 60 MB
 * of a 128 MB isolate when only their number was bounded.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { caller: Caller; until: number; bytes: number }>();
  private total = 0;
  /** When the next sweep for entries past their time is due (the earliest `until` seen since the last). */
  private sweepAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly limits: {
      /** Key text (the token, mostly) plus overhead, for all entries together. */
      maxBytes: number;
      /** A longer key is verified every time and never remembered. */
      maxKeyLength: number;
      /** Bytes counted per entry beyond its key: the caller object and the map's own. */
      entryOverhead: number;
    },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }

  get(key: string, now: number): Caller | undefined {
    this.sweepIfDue(now);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now < entry.until) return entry.caller;
    this.delete(key);
    return undefined;
  }

  set(key: string, caller: Caller, until: number, now: number): void {
    this.sweepIfDue(now);
    if (key.length > this.limits.maxKeyLength || until <= now) return;
    this.delete(key);
    const bytes = key.length + this.limits.entryOverhead;
    // The oldest entries make room; a flood of distinct valid tokens only costs their verification.
    for (const oldest of this.entries.keys()) {
      if (this.total + bytes <= this.limits.maxBytes) break;
      this.delete(oldest);
    }
    this.entries.set(key, { caller, until, bytes });
    this.total += bytes;
    this.sweepAt = Math.min(this.sweepAt, until);
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }

  /** Drops every entry past its time once the earliest has passed: they are never served, so they only hold memory. */
  private sweepIfDue(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = Number.POSITIVE_INFINITY;
    for (const [key, entry] of this.entries) {
      if (now >= entry.until) this.delete(key);
      else this.sweepAt = Math.min(this.sweepAt, entry.until);
    }
  }
}

const VERIFIED_FOR_MS = 60_000;
export const verifiedTokens = new VerifiedTokenCache({
  maxBytes: 4 * 1024 * 1024,
  // Entra ID tokens are 1-3 KiB; one with a huge group or role list is checked each time.
  maxKeyLength: 16 * 1024,
  entryOverhead: 256,
});

/** Each configuration's part of the keys, written once (bindings do not change while an isolate lives). */
const tokenKeyPrefixes = new WeakMap<Config, string>();

/**
 * The configuration is part of the key: a token is only as good as the keys and claims it was
 * checked against. The prefix is one whole JSON array, so no two (configuration, token) pairs
 * share a key.
 */
export function verifiedTokenKey(env: Env, token: string): string {
  const config = readConfig(env);
  let prefix = tokenKeyPrefixes.get(config);
  if (prefix === undefined) {
    const { hs256Secret, jwksUrl, issuers, audiences } = config;
    prefix = JSON.stringify([hs256Secret, jwksUrl, issuers, audiences]);
    tokenKeyPrefixes.set(config, prefix);
  }
  return prefix + token;
}

/** Verifies `Authorization: Bearer <JWT>` and returns the caller, or throws a 401. */
export async function authenticate(authorization: string | undefined, env: Env): Promise<Caller> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  const token = match?.[1];
  if (!token) throw unauthorized("Access token is empty or missing: send 'Authorization: Bearer <token>'.");
  const key = verifiedTokenKey(env, token);
  const now = Date.now();
  const known = verifiedTokens.get(key, now);
  if (known) return known;
  const claims = await verifiedClaims(token, authConfig(env));
  // Every request with this token shares the object: frozen, and its sets are read-only by type.
  const caller = Object.freeze(callerFromClaims(claims));
  const expiresAt = ((claims.exp as number) + CLOCK_SKEW_SECONDS) * 1000;
  verifiedTokens.set(key, caller, Math.min(now + VERIFIED_FOR_MS, expiresAt), now);
  return caller;
}
