import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { expect, it } from "vitest";
import { freePort, report, sleep, startRuntime } from "./runtime";
import { guid, TENANT } from "./tokens";

// The provider's key set (src/http/jwks.ts) in the real runtime, where each request has its own
// I/O context: the Workers tests call the Worker inside one test's context, so they cannot show
// that requests really share a fetch another request started.

const AUDIENCE = "api://graph-presence-edge";
const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;

it("shares one fetch among a cold isolate's requests, and retries within seconds of a failure", async () => {
  const check = "key set";
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const kid = crypto.randomUUID();
  const keys = { keys: [{ ...(await exportJWK(publicKey)), kid, use: "sig" }] };
  const provider = { fetches: 0, failing: true, hanging: undefined as Promise<void> | undefined };
  const server: Server = createServer(async (_request, response) => {
    provider.fetches += 1;
    if (provider.hanging) await provider.hanging;
    if (provider.failing) response.writeHead(500).end();
    else response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(keys));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const storage = await mkdtemp(join(tmpdir(), "presence-key-set-"));
  const runtime = await startRuntime(storage, {
    AUTH_JWKS_URL: `http://127.0.0.1:${port}/discovery/v2.0/keys`,
    AUTH_ISSUERS: ISSUER,
    AUTH_AUDIENCE: AUDIENCE,
  });
  const read = async () => {
    const token = await new SignJWT({ tid: TENANT, azp: guid(0xa1), roles: ["Presence.Read.All"] })
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime("1h")
      .setJti(crypto.randomUUID())
      .sign(privateKey);
    return fetch(`${runtime.url}/v1.0/users/${guid(0xb1)}/presence`, { headers: { authorization: `Bearer ${token}` } });
  };
  try {
    // The provider is down: 503, and the next try a second later, not a minute.
    const refused = await read();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(provider.fetches).toBe(1);

    // Back, but slow: every request waiting meanwhile waits for the one fetch.
    provider.failing = false;
    let answer = () => {};
    provider.hanging = new Promise((resolve) => {
      answer = resolve;
    });
    await sleep(1_100);
    const reads = Promise.all(Array.from({ length: 8 }, () => read()));
    await sleep(500);
    answer();
    const statuses = (await reads).map((r) => r.status);
    report(check, `8 concurrent reads: ${statuses.join(" ")}, ${provider.fetches - 1} fetch(es) for them`);
    expect(statuses).toEqual(Array.from({ length: 8 }, () => 200));
    expect(provider.fetches).toBe(2);
  } finally {
    await runtime.kill();
    server.close();
    await rm(storage, { recursive: true, force: true });
  }
});
