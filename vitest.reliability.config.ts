import { defineConfig } from "vitest/config";

// The reliability checks start, kill and restart the local runtime
// (wrangler dev) themselves; they run one at a time, in Node.
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
