import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http/body";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../../src/http/limits";
import { APP, call, expectGraphError, getPresence, newUserId, userToken } from "../helpers";

const available = { sessionId: APP, availability: "Available", activity: "Available" };

/** An endless body served in 16 KiB chunks, counting how many the service pulled. */
function endlessBody() {
  const counter = { pulled: 0 };
  const chunk = new TextEncoder().encode(`{"pad":"${"x".repeat(16 * 1024)}`);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      counter.pulled += 1;
      controller.enqueue(chunk);
    },
  });
  return { stream, counter };
}

describe("request limits", () => {
  it("refuses a body declared larger than 64 KiB before the token is even looked at", async () => {
    const response = await call(`/v1.0/me/presence/setPresence`, {
      rawBody: "x".repeat(MAX_BODY_BYTES + 1),
      headers: { "content-type": "application/json" },
    });
    await expectGraphError(response, 413, "RequestEntityTooLarge", /larger than 65536/);
  });

  it("stops reading a streamed body without a length as soon as it passes 64 KiB", async () => {
    const user = newUserId();
    const t = await userToken(user);
    const { stream, counter } = endlessBody();
    const response = await call(`/v1.0/me/presence/setPresence`, {
      token: t,
      rawBody: stream,
      headers: { "content-type": "application/json" },
    });
    await expectGraphError(response, 413, "RequestEntityTooLarge");
    // 64 KiB is four or five chunks; a little read-ahead is allowed, not the whole stream.
    expect(counter.pulled).toBeLessThan(16);
    expect((await getPresence(`/v1.0/me/presence`, t)).availability).toBe("Offline");
  });

  it("accepts a body of exactly 64 KiB", async () => {
    const user = newUserId();
    const json = JSON.stringify(available);
    const response = await call(`/v1.0/me/presence/setPresence`, {
      token: await userToken(user),
      rawBody: json + " ".repeat(MAX_BODY_BYTES - json.length),
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(200);
  });

  it("refuses a URL longer than 4 KiB with 414", async () => {
    const path = `/v1.0/users/${"a".repeat(MAX_URL_LENGTH)}/presence`;
    await expectGraphError(await call(path), 414, "RequestUriTooLong");
  });

  it("refuses headers larger than 32 KiB with 431, and takes a large token", async () => {
    const user = newUserId();
    const big = await userToken(user, "Presence.Read", { claims: { groups: Array(300).fill(crypto.randomUUID()) } });
    expect(big.length).toBeGreaterThan(10_000);
    expect((await call(`/v1.0/me/presence`, { token: big })).status).toBe(200);
    const response = await call(`/v1.0/me/presence`, {
      token: big,
      headers: { "x-padding": "x".repeat(MAX_HEADER_BYTES) },
    });
    await expectGraphError(response, 431, "RequestHeaderFieldsTooLarge");
  });
});
