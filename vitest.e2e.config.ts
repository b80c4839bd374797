import { defineConfig } from "vitest/config";

// The product as a user gets it, in Node: the presence board in a real headless Chromium (the
// system's, else the one npm installed: see test/e2e/browser.ts), driven by playwright-core
// against the service started as `npm run dev` runs it, with DEV_MODE on; and the Worker built as
// `npm run deploy` builds it.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/e2e/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
