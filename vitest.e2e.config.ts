import { defineConfig } from "vitest/config";

// The presence board in a real headless Chromium (the system's, else the one npm installed: see
// test/e2e/browser.ts), driven by playwright-core against the service started as `npm run dev`
// runs it, with DEV_MODE on.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/e2e/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
