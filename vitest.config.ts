import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Unit and API tests run inside workerd, with the Worker and its Durable
// Objects from wrangler.toml. The HS256 secret here is for tests only.
export const TEST_AUTH_SECRET = "test-only-hs256-secret-0123456789abcdef";
// A fresh key for each run signs the validationTokens of rich notifications.
const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          AUTH_HS256_SECRET: TEST_AUTH_SECRET,
          // As in .dev.vars: the dev token endpoint exists (its absence is tested with other bindings).
          DEV_MODE: "true",
          NOTIFICATION_SIGNING_KEY: JSON.stringify(signingKey),
          // The operator routes' bearer token (test/api/dead-letters.test.ts).
          OPERATOR_TOKEN: "test-only-operator-token-0123456789abcdef",
          // The tests' webhook receivers answer on these hosts, over plain http.
          NOTIFICATION_HTTP_HOSTS: "receiver.test,lifecycle.test",
          // Short waits so that "too slow" is quick to test; production defaults are 10 s and 3 s.
          VALIDATION_TIMEOUT_MS: "300",
          DELIVERY_TIMEOUT_MS: "300",
          // Hubs this small fill at once, so the tests' sockets spill from hub to hub and group to group.
          WATCH_SOCKETS_PER_HUB: "3",
          // Tests play readers in several regions with this header (http/region.ts).
          TEST_REGION_HEADER: "x-test-region",
        },
      },
    }),
  ],
  test: {
    include: ["test/domain/**/*.test.ts", "test/api/**/*.test.ts"],
    // Some tests create hundreds of objects; on two shared cores that can take seconds.
    testTimeout: 30_000,
    // Every request logs a line (test/api/request-log.test.ts checks them); keep them out of the output.
    onConsoleLog: (log) => !log.includes('"message":"request"'),
  },
});
