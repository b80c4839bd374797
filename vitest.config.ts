import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Unit and API tests run inside workerd, with the Worker and its Durable
// Objects from wrangler.toml. The HS256 secret here is for tests only.
export const TEST_AUTH_SECRET = "test-only-hs256-secret-0123456789abcdef";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: { AUTH_HS256_SECRET: TEST_AUTH_SECRET } },
    }),
  ],
  test: {
    include: ["test/domain/**/*.test.ts", "test/api/**/*.test.ts"],
    // Every request logs a line (test/api/request-log.test.ts checks them); keep them out of the output.
    onConsoleLog: (log) => !log.includes('"message":"request"'),
  },
});
