import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters, errors as joseErrors } from "jose";
import { logError } from "../shared/log";

/** Keys are trusted this long before a routine re-fetch (rotations are caught sooner, by unknown `kid`). */
export const JWKS_MAX_AGE_MS = 60 * 60_000;
/** With keys in hand, the key endpoint is asked at most this often, however many unknown `kid`s or failures arrive. */
export const JWKS_MIN_REFETCH_INTERVAL_MS = 60_000;
/** Without keys, the first retry after a failure waits this long; each failure in a row doubles it... */
export const JWKS_FIRST_RETRY_MS = 1_000;
/** ...up to this: an isolate without keys answers 503 at most this long after the provider is back. */
export const JWKS_MAX_RETRY_MS = 16_000;
const FETCH_TIMEOUT_MS = 5_000;
/**
 * A waiting request gives up on a shared fetch this long after it began. The fetch's own timeout
 * ends it sooner, unless the request that started it was cancelled: workerd then never settles it.
 */
const SHARED_FETCH_DEADLINE_MS = FETCH_TIMEOUT_MS + 1_000;

/** The key endpoint could not be read and no keys are cached: tokens cannot be checked right now. */
export class KeysUnavailable extends Error {
  constructor(
    message: string,
    /** When asking again may help (`Retry-After`). */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * One provider's signing keys (Entra ID's `discovery/v2.0/keys`), kept in
 * memory for the isolate's life. jose's createRemoteJWKSet is not used because
 * on Workers it retries a failed fetch on every request. Here one fetch at a
 * time goes to the provider, and every request that needs it waits for that
 * one (workerd lets a request await a promise another request started). With
 * keys in hand, a re-fetch (routine, or for an unknown `kid`) comes at most a
 * minute after the last attempt, so a flood of forged `kid`s cannot become a
 * flood of fetches; without keys, a failed fetch is retried after 1 s, then
 * 2, 4, 8 and 16 s at most, so the isolate is back soon after the provider.
 */
export class CachedKeySet {
  private keys: LocalKeySet | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  /** Failed fetches in a row, and before when an isolate without keys does not try again. */
  private failures = 0;
  private retryAt = Number.NEGATIVE_INFINITY;
  private inFlight: { done: Promise<void>; deadline: number } | undefined;

  constructor(private readonly url: string) {}

  /** The key for a token's header; a key the cached set lacks triggers one re-fetch, if one is allowed. */
  async keyFor(header: JWSHeaderParameters): Promise<CryptoKey> {
    const now = Date.now();
    // A routine refresh waits for nobody else's: the keys it has still serve meanwhile.
    if (!this.keys || (now - this.fetchedAt >= JWKS_MAX_AGE_MS && !this.fetching(now))) await this.refresh(now);
    if (!this.keys) {
      const seconds = Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000));
      throw new KeysUnavailable(`No signing keys could be read from ${this.url}.`, seconds);
    }
    try {
      return await this.keys(header);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      // A rotation: the first request with the new kid fetches, the others wait for that fetch.
      await this.refresh(now);
      return await this.keys(header);
    }
  }

  private mayFetch(now: number): boolean {
    return this.keys ? now - this.attemptedAt >= JWKS_MIN_REFETCH_INTERVAL_MS : now >= this.retryAt;
  }

  /** The fetch under way, if any. One past its deadline was lost with its cancelled request (not the provider's fault). */
  private fetching(now: number): { done: Promise<void>; deadline: number } | undefined {
    return this.inFlight && now < this.inFlight.deadline ? this.inFlight : undefined;
  }

  /** Waits for the fetch under way, else starts one if allowed; on failure keeps the keys it had. */
  private refresh(now: number): Promise<void> {
    let inFlight = this.fetching(now);
    if (!inFlight) {
      if (!this.mayFetch(now)) return Promise.resolve();
      this.attemptedAt = now;
      const started: { done: Promise<void>; deadline: number } = {
        done: this.fetchKeys().finally(() => {
          if (this.inFlight === started) this.inFlight = undefined;
        }),
        deadline: now + SHARED_FETCH_DEADLINE_MS,
      };
      this.inFlight = started;
      inFlight = started;
    }
    return this.join(inFlight);
  }

  /** Waits for a fetch, or until its deadline: each waiter's own timer runs in its own request. */
  private async join(inFlight: { done: Promise<void>; deadline: number }): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const givenUp = new Promise<"given up">((resolve) => {
      timer = setTimeout(() => resolve("given up"), SHARED_FETCH_DEADLINE_MS);
    });
    try {
      // The next request starts a fetch of its own rather than wait for this one.
      if ((await Promise.race([inFlight.done, givenUp])) === "given up" && this.inFlight === inFlight) {
        this.inFlight = undefined;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private async fetchKeys(): Promise<void> {
    try {
      const response = await fetch(this.url, {
        headers: { accept: "application/json, application/jwk-set+json" },
        redirect: "manual",
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      this.keys = createLocalJWKSet((await response.json()) as JSONWebKeySet);
      this.fetchedAt = this.attemptedAt;
      this.failures = 0;
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    this.failures += 1;
    this.retryAt = Date.now() + Math.min(JWKS_MAX_RETRY_MS, JWKS_FIRST_RETRY_MS * 2 ** (this.failures - 1));
    logError({ object: "JWKS", name: this.url }, "fetching the signing keys failed", error);
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
