import { postToReceiver } from "./outbound";

/**
 * D25: how much of the endpoint's answer is read. The token is about 110
 * characters, so a longer answer cannot be the echo (only whitespace around it
 * is forgiven): reading stops at the cap and the handshake fails, rather than
 * comparing a prefix that could never match.
 */
export const VALIDATION_ANSWER_MAX_BYTES = 4096;

/**
 * One message for every failure (D25): telling "could not be reached" from
 * "answered 404" would let a caller map which addresses and ports answer.
 */
export const validationFailedMessage = (timeoutMs: number) =>
  `Subscription validation request failed. The notification endpoint must answer the validation request with 200 and the validationToken as text/plain within ${timeoutMs / 1000} seconds.`;

/**
 * The validation handshake of spec 5.3: POST `{url}?validationToken=...` with
 * an empty text/plain body; the endpoint must answer 200 with the decoded
 * token as plain text, in time. Returns null when it did, or the message to answer with.
 */
export async function validateEndpoint(url: string, timeoutMs: number): Promise<string | null> {
  // Spaces and punctuation make receivers prove they URL-decode the token, as Graph's do.
  const token = `Validation: Testing client application reachability for subscription Request-Id: ${crypto.randomUUID()}`;
  const target = new URL(url);
  target.searchParams.set("validationToken", token);
  const answer = await postToReceiver(target, {
    contentType: "text/plain; charset=utf-8",
    body: "",
    timeoutMs,
    maxAnswerBytes: VALIDATION_ANSWER_MAX_BYTES,
  });
  const echoed =
    answer.kind === "answered" &&
    answer.status === 200 &&
    answer.body !== null &&
    new TextDecoder().decode(answer.body).trim() === token;
  return echoed ? null : validationFailedMessage(timeoutMs);
}
