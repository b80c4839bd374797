#!/usr/bin/env node
// `npm run dev` on a fresh clone: create .dev.vars from the committed example,
// so the local service and `npm run token` share a secret without a manual step.
import { copyFileSync, existsSync } from "node:fs";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example (local development settings).");
}
