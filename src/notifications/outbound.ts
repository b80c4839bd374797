import { concatBytes } from "../shared/bytes";

/**
 * What a receiver did with one POST (D25). A redirect is an ordinary answer
 * with its 3xx status: it is never followed, so it counts as a failure
 * wherever a 200 or 2xx is wanted.
 */
export type ReceiverAnswer =
  /** `body` holds at most `maxAnswerBytes` bytes; null when the answer was longer (reading stopped there). */
  { kind: "answered"; status: number; body: Uint8Array | null } | { kind: "timeout" } | { kind: "unreachable" };

export interface ReceiverPost {
  contentType: string;
  body: string;
  /** The budget for the whole exchange: connecting, the status, and reading the answer's body. */
  timeoutMs: number;
  /** How much of the answer's body to read; 0 reads none of it. */
  maxAnswerBytes?: number;
}

class Timeout extends Error {}

/**
 * POSTs to a subscriber's endpoint (a handshake, a notification, a lifecycle
 * event). Receivers are strangers: a redirect could steer the call to an
 * address the subscriber was never allowed to name, and an answer's body
 * could be endless or never finish, so redirects are not followed and the
 * body is read only up to a cap, inside the same deadline as the request.
 */
export async function postToReceiver(url: string | URL, post: ReceiverPost): Promise<ReceiverAnswer> {
  const controller = new AbortController();
  let expire: () => void = () => {};
  // Rejects at the deadline: a stream whose reads ignore the abort (a stub, or a
  // future runtime) still cannot hold the caller past its budget.
  const deadline = new Promise<never>((_resolve, reject) => {
    expire = () => reject(new Timeout());
  });
  deadline.catch(() => {});
  const timer = setTimeout(() => {
    controller.abort();
    expire();
  }, post.timeoutMs);
  try {
    const response = await Promise.race([
      fetch(url, {
        method: "POST",
        headers: { "content-type": post.contentType },
        body: post.body,
        redirect: "manual",
        signal: controller.signal,
      }),
      deadline,
    ]);
    const body = await readCapped(response, post.maxAnswerBytes ?? 0, deadline);
    return { kind: "answered", status: response.status, body };
  } catch (error) {
    return error instanceof Timeout || controller.signal.aborted ? { kind: "timeout" } : { kind: "unreachable" };
  } finally {
    clearTimeout(timer);
  }
}

/** The answer's body up to `max` bytes, or null past that; the rest is never pulled. */
async function readCapped(response: Response, max: number, deadline: Promise<never>): Promise<Uint8Array | null> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (!response.body || max === 0 || declared > max) {
    void response.body?.cancel().catch(() => {});
    return max > 0 && declared > max ? null : new Uint8Array();
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) break;
      total += value.byteLength;
      if (total > max) return null;
      chunks.push(value);
    }
  } finally {
    // Not awaited: a stalled source may never settle its cancel either.
    void reader.cancel().catch(() => {});
  }
  return concatBytes(chunks, total);
}
