/** Graph gives an endpoint 10 s to echo the validation token (spec 5.3). */
export const VALIDATION_TIMEOUT_MS_DEFAULT = 10_000;

/**
 * The validation handshake of spec 5.3: POST `{url}?validationToken=...` with
 * an empty text/plain body; the endpoint must answer 200 with the decoded
 * token as plain text, in time. Returns null when it did, or what went wrong.
 */
export async function validateEndpoint(url: string, timeoutMs: number): Promise<string | null> {
  // Spaces and punctuation make receivers prove they URL-decode the token, as Graph's do.
  const token = `Validation: Testing client application reachability for subscription Request-Id: ${crypto.randomUUID()}`;
  const target = new URL(url);
  target.searchParams.set("validationToken", token);
  let response: Response;
  try {
    response = await fetch(target, {
      method: "POST",
      headers: { "content-type": "text/plain; charset=utf-8" },
      body: "",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason =
      error instanceof Error && error.name === "TimeoutError"
        ? `did not answer within ${timeoutMs / 1000} s`
        : "could not be reached";
    return `Subscription validation request failed: ${url} ${reason}.`;
  }
  const body = await response.text();
  if (response.status !== 200) {
    return `Subscription validation request failed: ${url} answered ${response.status}, not 200.`;
  }
  if (body.trim() !== token) {
    return `Subscription validation request failed: ${url} did not echo the validationToken as plain text.`;
  }
  return null;
}
