#!/usr/bin/env node
// Runs the curl and `npm run -s watch` examples of README.md and docs/*.md once, in order, against
// a local service, and fails when one does not answer as documented: 2xx, or the status its
// comment names ("answers 400"); a watch must print a presence and exit 0. Not part of `npm test` (it starts a service and a webhook receiver): run it after
// changing an example.
//
//   npm run docs:check                                    a fresh `wrangler dev` on a free port
//   npm run docs:check -- --base http://localhost:8787    the `npm run dev` you already run
//
// Each file runs in one bash session, so a block may use the variables an earlier block of the
// same file set. A ```sh block runs when every line that starts a command is a curl call, a watch
// or a variable assignment (so `npm install` blocks are left alone). A watch runs until its first
// presence message (`--count 1`), against the service checked. Webhook examples get the
// receiver that docs/webhooks.md shows, on a free port in place of 3000.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, startRuntime } from "../test/reliability/runtime.ts";

const DOCUMENTED_SERVICE = "http://localhost:8787";
const DOCUMENTED_RECEIVER_PORT = "3000";

const { values } = parseArgs({ options: { base: { type: "string" } } });
const files = ["README.md", ...readdirSync("docs").map((name) => join("docs", name))].filter((f) => f.endsWith(".md"));

/** Fenced code blocks of a markdown file, with the line each starts on. */
function blocks(file) {
  const found = [];
  let open = null;
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, index) => {
      const fence = line.match(/^```(\w*)\s*$/);
      if (fence && !open) open = { lang: fence[1], line: index + 2, lines: [] };
      else if (line.startsWith("```") && open) {
        found.push(open);
        open = null;
      } else if (open) open.lines.push(line);
    });
  return found;
}

const CURL = /^(?:[A-Za-z_]\w*=\$\()?curl\s/;
const ASSIGNMENT = /^[A-Za-z_]\w*=/;
const WATCH = /^npm run -s watch(\s|$)/;
/** Lines at column 0 start commands; indented ones continue them. */
const runnable = (block) =>
  block.lang === "sh" &&
  block.lines.every(
    (l) => l === "" || /^\s/.test(l) || l.startsWith("#") || CURL.test(l) || ASSIGNMENT.test(l) || WATCH.test(l),
  );

/** Every curl call of a file's runnable blocks, with the status its comment promises. */
function calls(file, runnableBlocks) {
  const found = [];
  for (const block of runnableBlocks) {
    let comment = "";
    block.lines.forEach((line, index) => {
      if (line.startsWith("#")) comment = line;
      else if (CURL.test(line)) {
        const status = comment.match(/answers (\d{3})/)?.[1];
        found.push({ where: `${file}:${block.line + index}`, command: line, expected: status ?? "2xx" });
      } else if (WATCH.test(line)) {
        found.push({ where: `${file}:${block.line + index}`, command: line, expected: "exit 0" });
      }
    });
  }
  return found;
}

// bash's curl becomes a function that still prints the body (so `$(curl ... | node ...)` works)
// and reports each call's status on fd 3.
const PRELUDE = [
  "curl() {",
  '  local n=$(( $(cat "$__COUNTER") + 1 )); echo "$n" > "$__COUNTER"',
  "  local out",
  "  out=$(command curl -sS -w '\\n%{http_code}' \"$@\")",
  "  printf '%s\\n' \"$out\" | sed '$d'",
  '  printf \'%s\\t%s\\n\' "$n" "$(printf \'%s\' "$out" | tail -n 1)" >&3',
  "}",
  // `npm run -s watch` stops at its first presence message (20 s at most) and reports its exit.
  "npm() {",
  '  if [ "$1 $2 $3" != "run -s watch" ]; then command npm "$@"; return; fi',
  '  shift 3; [ "$1" = "--" ] && shift',
  '  local n=$(( $(cat "$__COUNTER") + 1 )); echo "$n" > "$__COUNTER"',
  // The script `npm run watch` runs, called directly so that a timeout stops the watcher itself.
  '  timeout 20 node scripts/watch.mjs --base "$__BASE" --count 1 "$@"',
  '  printf \'%s\\texit %s\\n\' "$n" "$?" >&3',
  "}",
].join("\n");

const persist = mkdtempSync(join(tmpdir(), "doc-examples-"));
let service;
let receiver;
let notificationsReceived = 0;
let failures = 0;
let checked = 0;
try {
  let base = values.base?.replace(/\/$/, "");
  if (!base) {
    execFileSync(process.execPath, ["scripts/ensure-dev-vars.mjs"], { stdio: "inherit" });
    service = await startRuntime(join(persist, "state"), {});
    base = service.url;
  }
  console.log(`Service: ${base}`);

  const receiverPort = String(await freePort());
  const receiverCode = blocks("docs/webhooks.md").find(
    (b) => b.lang === "js" && b.lines.join("\n").includes("createServer"),
  );
  if (receiverCode) {
    const code = receiverCode.lines
      .join("\n")
      .replace(`.listen(${DOCUMENTED_RECEIVER_PORT})`, `.listen(${receiverPort})`);
    receiver = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    receiver.stdout.on("data", () => {
      notificationsReceived += 1;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  for (const file of files) {
    const chosen = blocks(file).filter(runnable);
    const expected = calls(file, chosen);
    if (expected.length === 0) continue;
    const script = chosen
      .map((b) => b.lines.join("\n"))
      .join("\n")
      .replaceAll(DOCUMENTED_SERVICE, base)
      .replaceAll(`localhost:${DOCUMENTED_RECEIVER_PORT}`, `localhost:${receiverPort}`);
    const counter = join(persist, "counter");
    const results = join(persist, "results");
    writeFileSync(counter, "0");
    writeFileSync(results, "");
    const output = await new Promise((resolve) => {
      const bash = spawn("bash", ["-c", `exec 3>>"$__RESULTS"\n${PRELUDE}\n${script}`], {
        env: { ...process.env, __COUNTER: counter, __RESULTS: results, __BASE: base },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let text = "";
      bash.stdout.on("data", (c) => (text += c));
      bash.stderr.on("data", (c) => (text += c));
      bash.on("close", () => resolve(text));
    });
    const statuses = readFileSync(results, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split("\t")[1]);
    console.log(`\n${file}: ${expected.length} calls\n${output.trim().replace(/^/gm, "  │ ")}`);
    expected.forEach((call, index) => {
      const status = statuses[index] ?? "not run";
      const ok = call.expected === "2xx" ? /^2\d\d$/.test(status) : status === call.expected;
      checked += 1;
      if (!ok) failures += 1;
      console.log(
        `${ok ? "ok  " : "FAIL"} ${call.where}  ${status} (expected ${call.expected})  ${call.command.slice(0, 80)}`,
      );
    });
  }
  if (receiver) {
    // docs/webhooks.md promises the receiver prints a notification within a second of its change.
    for (let i = 0; i < 50 && notificationsReceived === 0; i++) await new Promise((r) => setTimeout(r, 100));
    console.log(`\nThe receiver printed ${notificationsReceived} chunk(s) of notifications.`);
    checked += 1;
    if (notificationsReceived === 0) {
      failures += 1;
      console.log("FAIL docs/webhooks.md  the receiver printed no notification after the try-out");
    }
  }
} finally {
  receiver?.kill();
  await service?.kill();
  rmSync(persist, { recursive: true, force: true });
}
console.log(`\n${checked - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
