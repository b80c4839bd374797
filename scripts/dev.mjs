#!/usr/bin/env node
// `npm run dev`: `wrangler dev` (its arguments passed on), offline and without noise a newcomer
// would have to interpret. Wrangler's usage metrics are off in wrangler.toml (send_metrics).
import { spawn } from "node:child_process";

const env = {
  ...process.env,
  // Request.cf comes from workers.cloudflare.com: offline that fetch printed a stack trace twice,
  // and the placeholder wrangler falls back to is what a local run gets anyway.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  // The banner asks npm for wrangler's newest version ("update available"); the project pins it.
  WRANGLER_HIDE_BANNER: "true",
  // No dev registry (wrangler processes of one machine finding each other's Workers): this
  // Worker needs none, and its own queue consumer registering there printed the bindings twice.
  WRANGLER_REGISTRY_PATH: "",
};

const wrangler = spawn("wrangler", ["dev", ...process.argv.slice(2)], { stdio: "inherit", env });
// Ctrl+C reaches wrangler too (same process group); exit as it does.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => wrangler.kill(signal));
wrangler.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
