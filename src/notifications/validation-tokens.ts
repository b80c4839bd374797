import { calculateJwkThumbprint, importJWK, type JWK, SignJWT } from "jose";

/** Graph's own change-tracking application id, which Graph puts in azp/appid. */
export const CHANGE_TRACKING_APP_ID = "0bf30f3b-4a52-48df-9a82-234910c4a086";
/** Where the public keys that verify validationTokens are served (no token needed). */
export const JWKS_PATH = "/.well-known/jwks.json";

interface SigningKey {
  key: CryptoKey;
  kid: string;
  publicJwk: JWK;
}

const cache = new Map<string, Promise<SigningKey>>();

/** The service's signing key from NOTIFICATION_SIGNING_KEY (a private RSA JWK, as JSON). */
function signingKey(privateJwkJson: string): Promise<SigningKey> {
  let key = cache.get(privateJwkJson);
  if (!key) {
    key = (async () => {
      const jwk = JSON.parse(privateJwkJson) as JWK;
      const { kty, n, e } = jwk;
      const publicJwk: JWK = { kty, n, e, alg: "RS256", use: "sig" };
      const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
      return { key: (await importJWK(jwk, "RS256")) as CryptoKey, kid, publicJwk: { ...publicJwk, kid } };
    })();
    cache.set(privateJwkJson, key);
  }
  return key;
}

/** The JWKS a receiver uses to verify our validationTokens. */
export async function validationTokenJwks(privateJwkJson: string | undefined) {
  if (!privateJwkJson) return { keys: [] };
  return { keys: [(await signingKey(privateJwkJson)).publicJwk] };
}

/**
 * One validation token per (application, tenant) in a delivery, shaped like
 * Graph's: audience the subscriber's app id, azp/appid Graph's change-tracking
 * app, signed with the service's own key (spec 5.4).
 */
export async function signValidationToken(
  privateJwkJson: string,
  issuer: string,
  appId: string,
  tenantId: string,
): Promise<string> {
  const { key, kid } = await signingKey(privateJwkJson);
  return new SignJWT({ tid: tenantId, azp: CHANGE_TRACKING_APP_ID, appid: CHANGE_TRACKING_APP_ID })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid })
    .setIssuer(issuer)
    .setAudience(appId)
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime("1h")
    .sign(key);
}
