import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters, errors as joseErrors } from "jose";
import { logError } from "../shared/log";

/** Keys are trusted this long before a routine re-fetch (rotations are caught sooner, by unknown `kid`). */
export const JWKS_MAX_AGE_MS = 60 * 60_000;
/** The key endpoint is asked at most this often, however many unknown `kid`s or failures arrive. */
export const JWKS_MIN_REFETCH_INTERVAL_MS = 60_000;
const FETCH_TIMEOUT_MS = 5_000;

/** The key endpoint could not be read and no keys are cached: tokens cannot be checked right now. */
export class KeysUnavailable extends Error {}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * One provider's signing keys (Entra ID's `discovery/v2.0/keys`), kept in
 * memory for the isolate's life. jose's createRemoteJWKSet is not used because
 * on Workers it does not share a fetch between requests and retries a failed
 * fetch on every request; here every fetch after the first success, and every
 * retry after a failure, waits at least a minute since the last attempt, so a
 * flood of forged `kid`s or an outage of the provider cannot turn into a flood
 * of requests to it. Promises are not shared across requests (workerd ties
 * I/O to the request that started it), so an isolate that has no keys yet
 * lets each of its first concurrent requests fetch once.
 */
export class CachedKeySet {
  private keys: LocalKeySet | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptFailed = false;

  constructor(private readonly url: string) {}

  /** The key for a token's header; a key the cached set lacks triggers one re-fetch, if one is allowed. */
  async keyFor(header: JWSHeaderParameters): Promise<CryptoKey> {
    const now = Date.now();
    if (!this.keys || now - this.fetchedAt >= JWKS_MAX_AGE_MS) await this.refresh(now);
    if (!this.keys) throw new KeysUnavailable(`No signing keys could be read from ${this.url}.`);
    try {
      return await this.keys(header);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !this.mayFetch(now)) throw error;
      await this.refresh(now);
      return await this.keys(header);
    }
  }

  private mayFetch(now: number): boolean {
    // Without keys and without a recent failure, fetching is the only way to serve the request.
    if (!this.keys && !this.lastAttemptFailed) return true;
    return now - this.attemptedAt >= JWKS_MIN_REFETCH_INTERVAL_MS;
  }

  /** Fetches the key set if allowed; on failure keeps the keys it had (stale keys beat no keys). */
  private async refresh(now: number): Promise<void> {
    if (!this.mayFetch(now)) return;
    this.attemptedAt = now;
    try {
      const response = await fetch(this.url, {
        headers: { accept: "application/json, application/jwk-set+json" },
        redirect: "manual",
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      this.keys = createLocalJWKSet((await response.json()) as JSONWebKeySet);
      this.fetchedAt = now;
      this.lastAttemptFailed = false;
    } catch (error) {
      this.lastAttemptFailed = true;
      logError({ object: "JWKS", name: this.url }, "fetching the signing keys failed", error);
    }
  }
}

const keySets = new Map<string, CachedKeySet>();

/** The isolate's cached key set for `url`. */
export function keySetFor(url: string): CachedKeySet {
  let keySet = keySets.get(url);
  if (!keySet) {
    keySet = new CachedKeySet(url);
    keySets.set(url, keySet);
  }
  return keySet;
}
