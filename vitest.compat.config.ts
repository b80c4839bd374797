import { defineConfig } from "vitest/config";

// The compatibility suite runs in Node: it starts the service with wrangler
// (as `npm run dev` does) and talks to it over HTTP with the official Graph client.
// It also runs the operator's query script (`npm run ops`) against a recorded answer.
export default defineConfig({
  test: {
    include: ["test/compat/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
