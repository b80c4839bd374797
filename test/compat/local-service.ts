import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { unstable_startWorker } from "wrangler";

/**
 * The service as `npm run dev` runs it, on a free port, with fresh storage and a test secret.
 * `vars` adds plain-text bindings, e.g. `{ DEV_MODE: "true" }` for the dev token endpoint.
 */
export async function startLocalService(vars: Record<string, string> = {}) {
  const secret = `compat-${crypto.randomUUID()}`;
  const persist = await mkdtemp(join(tmpdir(), "presence-compat-"));
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings: {
      AUTH_HS256_SECRET: { type: "plain_text", value: secret },
      // Webhook receivers in these tests listen on loopback over plain http.
      NOTIFICATION_HTTP_HOSTS: { type: "plain_text", value: "127.0.0.1" },
      ...Object.fromEntries(
        Object.entries(vars).map(([name, value]) => [name, { type: "plain_text" as const, value }]),
      ),
    },
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist },
  });
  await worker.ready;
  const url = (await worker.url).href.replace(/\/$/, "");

  async function sign(claims: Record<string, unknown>): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(secret));
  }

  return {
    url,
    sign,
    async stop() {
      await worker.dispose();
      await rm(persist, { recursive: true, force: true });
    },
  };
}
