#!/usr/bin/env node
// Watches presence live from a terminal and prints each message the service sends as a line of
// JSON. It runs on the Node 22 that `npm install` brought (npm scripts use it), which has
// WebSocket built in; the machine's own Node may not.
//
//   npm run -s watch                          yourself (the token's user), one single-user socket
//   npm run -s watch -- <user id> [<id> ...]  these users, on one multi-user socket
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: "string", default: "http://localhost:8787" },
    token: { type: "string" },
    count: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(`Usage: npm run -s watch -- [<user id> ...] [--token JWT] [--base URL] [--count N]
Without ids: your own presence (/v1.0/me/presence/watch); with ids: these users on one socket
(/v1.0/communications/presences/watch). Prints every message until Ctrl+C, or until N presence
messages with --count. Default token: a dev token for the default user (npm run -s token);
default base: http://localhost:8787 (npm run dev).`);
  process.exit(0);
}

// A dev token minted as `npm run -s token` does, so a first try needs no other step.
const token = values.token ?? execFileSync(process.execPath, ["scripts/mint-token.mjs"], { encoding: "utf8" }).trim();
const base = values.base.replace(/^http/, "ws").replace(/\/$/, "");
const url = positionals.length ? `${base}/v1.0/communications/presences/watch` : `${base}/v1.0/me/presence/watch`;
const stopAfter = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);

// Browsers cannot set headers on a socket, so the service takes the token as a subprotocol.
const ws = new WebSocket(url, ["presence.v1", `bearer.${token}`]);
let presences = 0;
let opened = false;
ws.onopen = () => {
  opened = true;
  if (positionals.length) ws.send(JSON.stringify({ type: "subscribe", ids: positionals }));
};
ws.onmessage = (event) => {
  console.log(event.data);
  if (typeof event.data === "string" && event.data.startsWith('{"type":"presence"')) presences += 1;
  if (presences >= stopAfter) ws.close(1000);
};
// A refused upgrade (a bad token, no service) is an error without a close event in Node 22.
ws.onerror = () => {
  if (opened) return;
  console.error(`Could not open ${url}: is the service running (npm run dev), and is the token valid?`);
  process.exit(1);
};
ws.onclose = (event) => {
  if (presences >= stopAfter) process.exit(0);
  console.error(`The socket closed: ${event.code} ${event.reason}`.trim());
  process.exit(1);
};
