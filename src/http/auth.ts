import { type JWTPayload, errors as joseErrors, jwtVerify } from "jose";
import type { Env } from "../env";
import { GraphError, unauthorized } from "./errors";
import { isGuid } from "./ids";

/** Who is calling, from the verified token's Entra ID claims. */
export type Caller =
  | { kind: "delegated"; tenantId: string; userId: string; appId: string; scopes: ReadonlySet<string> }
  | { kind: "application"; tenantId: string; appId: string; roles: ReadonlySet<string> };

// Tokens minted a moment ago on another machine must not fail on clock drift.
const CLOCK_SKEW_SECONDS = 60;

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
  const scp = stringClaim(payload, "scp");
  if (scp !== undefined) {
    const userId = stringClaim(payload, "oid");
    if (!userId || !isGuid(userId)) throw unauthorized("The delegated access token has no valid 'oid' (user) claim.");
    return {
      kind: "delegated",
      tenantId: tenantId.toLowerCase(),
      userId: userId.toLowerCase(),
      appId: appId.toLowerCase(),
      scopes: new Set(scp.split(" ").filter(Boolean)),
    };
  }
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
  return { kind: "application", tenantId: tenantId.toLowerCase(), appId: appId.toLowerCase(), roles: new Set(roles) };
}

/** Verifies `Authorization: Bearer <JWT>` and returns the caller, or throws a 401. */
export async function authenticate(authorization: string | undefined, env: Env): Promise<Caller> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  if (!match?.[1]) throw unauthorized("Access token is empty or missing: send 'Authorization: Bearer <token>'.");
  const secret = env.AUTH_HS256_SECRET;
  if (!secret) {
    console.error(JSON.stringify({ level: "error", message: "AUTH_HS256_SECRET is not configured" }));
    throw new GraphError(500, "generalException", "The service has no token verification key configured.");
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(match[1], await hs256Key(secret), {
      algorithms: ["HS256"],
      requiredClaims: ["exp"],
      clockTolerance: CLOCK_SKEW_SECONDS,
    }));
  } catch (error) {
    throw unauthorized(tokenProblem(error));
  }
  return callerFromClaims(payload);
}

/** A caller as text, to hand to an object that holds a socket (Sets do not survive JSON). */
export function serializeCaller(caller: Caller): string {
  return JSON.stringify(
    caller.kind === "delegated" ? { ...caller, scopes: [...caller.scopes] } : { ...caller, roles: [...caller.roles] },
  );
}

export function deserializeCaller(text: string): Caller {
  const raw = JSON.parse(text);
  return raw.kind === "delegated" ? { ...raw, scopes: new Set(raw.scopes) } : { ...raw, roles: new Set(raw.roles) };
}
