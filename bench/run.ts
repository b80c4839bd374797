// npm run bench [-- --quick]: the service against the platform's floor, in one run.
//
// Starts the service (wrangler's unstable_startWorker, fresh storage) and a
// baseline Worker (bench/baseline) in the same local runtime, drives both from
// this process, prints a table and writes bench/results.json. Each figure is
// reported beside its baseline from the same run, as a ratio: absolute times
// on shared machines drift, ratios much less. It reports; it does not judge.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { unstable_startWorker } from "wrangler";
import { measureLatencies, measureThroughput, median, percentile } from "./stats.ts";

// Wrangler would log every request of the load; only its errors matter here.
process.env.WRANGLER_LOG ??= "error";

const quick = process.argv.includes("--quick");
// `--case <words>` runs only the cases whose name contains the words (for working on one case).
const only = process.argv.includes("--case") ? (process.argv[process.argv.indexOf("--case") + 1] ?? "") : "";
const selected = (name: string) => name.toLowerCase().includes(only.toLowerCase());
const SECONDS = quick ? 2 : 10;
const WATCHERS = quick ? 250 : 1000;
const FANOUT_CHANGES = quick ? 10 : 20;
const WEBHOOK_CHANGES = quick ? 15 : 50;
const BATCH_SAMPLES = quick ? 8 : 30;
const CONCURRENCY = 50;
const WARM_UP_MS = quick ? 500 : 1000;

const TENANT = "0b1e7c4a-0000-4000-8000-00000000be9c";
const secret = `bench-${crypto.randomUUID()}`;
const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

interface CaseResult {
  name: string;
  figure: string;
  value: number;
  baseline: number;
  ratio: number;
  target: string;
  met: boolean;
  notes?: string;
}

function sign(claims: Record<string, unknown>) {
  return new SignJWT({ tid: TENANT, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(secret));
}

async function start(config: string, bindings: Record<string, string>) {
  const persist = await mkdtemp(join(tmpdir(), "presence-bench-"));
  const worker = await unstable_startWorker({
    config,
    bindings: Object.fromEntries(
      Object.entries(bindings).map(([k, value]) => [k, { type: "plain_text" as const, value }]),
    ),
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist },
  });
  await worker.ready;
  const url = (await worker.url).href.replace(/\/$/, "");
  return {
    url,
    stop: async () => {
      await worker.dispose();
      await rm(persist, { recursive: true, force: true });
    },
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

async function main() {
  console.log(`Starting the service and the baseline Worker${quick ? " (quick run)" : ""}...`);
  const service = await start("wrangler.toml", { AUTH_HS256_SECRET: secret, NOTIFICATION_HTTP_HOSTS: "127.0.0.1" });
  const baseline = await start("bench/baseline/wrangler.toml", {});
  const results: CaseResult[] = [];
  const record = (result: CaseResult) => {
    results.push(result);
    console.log(
      `  ${result.name}: ${round(result.value)} vs ${round(result.baseline)} (ratio ${round(result.ratio)}; ${result.target}: ${result.met ? "met" : "MISSED"})`,
    );
  };
  try {
    const appId = guid(0xa99);
    const writer = await sign({ appid: appId, roles: ["Presence.ReadWrite.All"] });
    const reader = await sign({ appid: appId, roles: ["Presence.Read.All"] });
    const json = (token: string, body: unknown): RequestInit => ({
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const setPresence = (user: string, token: string, app: string, busy: boolean) =>
      fetch(
        `${service.url}/v1.0/users/${user}/presence/setPresence`,
        json(token, {
          sessionId: app,
          availability: busy ? "Busy" : "Away",
          activity: busy ? "InACall" : "Away",
          expirationDuration: "PT1H",
        }),
      );

    const write =
      (url: (client: number, n: number) => string, init: (client: number, n: number) => RequestInit) => async () => {
        await measureThroughput(WARM_UP_MS, CONCURRENCY, (c, n) => fetch(url(c, n), init(c, n)));
        return measureThroughput(SECONDS * 1000, CONCURRENCY, (c, n) => fetch(url(c, n), init(c, n)));
      };

    if (selected("GET presence")) {
      // 1. GET presence, 50 clients (each an application of its own, as D20 limits each
      // application to 1,500 reads per 30 s), each reading its own user.
      console.log("GET presence...");
      for (let i = 0; i < CONCURRENCY; i++) await (await setPresence(guid(i), writer, appId, true)).arrayBuffer();
      const readers = await Promise.all(
        Array.from({ length: CONCURRENCY }, (_, i) => sign({ appid: guid(0xd000 + i), roles: ["Presence.Read.All"] })),
      );
      const read = async (url: (client: number) => string, init?: (client: number) => RequestInit) => {
        await measureThroughput(WARM_UP_MS, CONCURRENCY, (client) => fetch(url(client), init?.(client)));
        return measureThroughput(SECONDS * 1000, CONCURRENCY, (client) => fetch(url(client), init?.(client)));
      };
      const readBase = await read((client) => `${baseline.url}/read/user-${client}`);
      const readService = await read(
        (client) => `${service.url}/v1.0/users/${guid(client)}/presence`,
        (client) => ({ headers: { authorization: `Bearer ${readers[client]}` } }),
      );
      record(throughputCase("GET presence, 50 concurrent clients", readService, readBase, 0.6, "read"));
    }

    if (selected("setPresence on one user")) {
      // 2. setPresence on one user from 50 applications.
      console.log("setPresence on one user, 50 apps...");
      const apps = await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, i) => {
          const id = guid(0xb000 + i);
          return { id, token: await sign({ appid: id, roles: ["Presence.ReadWrite.All"] }) };
        }),
      );
      const hotUser = guid(0xface);
      const writeOneBase = await write(
        () => `${baseline.url}/write/hot`,
        () => ({ method: "POST" }),
      )();
      const writeOneService = await measureWrites((c, n) => {
        const app = apps[c] as { id: string; token: string };
        return setPresence(hotUser, app.token, app.id, n % 2 === 0);
      });
      record(
        throughputCase("setPresence on one user, 50 concurrent apps", writeOneService, writeOneBase, 0.5, "write"),
      );
    }

    if (selected("setPresence on 1,000 users")) {
      // 3. setPresence on 1,000 users, 50 clients.
      console.log("setPresence on 1,000 users...");
      const userOf = (c: number, n: number) => (c * 7919 + n * 50) % 1000;
      // Every user is written once first, on both sides, so the figure is the steady state
      // rather than the one-time creation of 1,000 objects.
      const everyUser = Array.from({ length: 1000 }, (_, u) => u);
      for (let i = 0; i < everyUser.length; i += CONCURRENCY) {
        await Promise.all(
          everyUser
            .slice(i, i + CONCURRENCY)
            .flatMap((u) => [
              fetch(`${baseline.url}/write/user-${u}`, { method: "POST" }).then((r) => r.arrayBuffer()),
              setPresence(guid(0x10000 + u), writer, appId, false).then((r) => r.arrayBuffer()),
            ]),
        );
      }
      const writeManyBase = await write(
        (c, n) => `${baseline.url}/write/user-${userOf(c, n)}`,
        () => ({ method: "POST" }),
      )();
      const writeManyService = await measureWrites((c, n) =>
        setPresence(guid(0x10000 + userOf(c, n)), writer, appId, n % 2 === 0),
      );
      record(
        throughputCase("setPresence on 1,000 users, 50 concurrent", writeManyService, writeManyBase, 0.5, "write"),
      );
    }

    if (selected("getPresencesByUserId")) {
      // 4. getPresencesByUserId with 650 ids, half never written.
      console.log("getPresencesByUserId, 650 ids...");
      const ids = Array.from({ length: 650 }, (_, i) => guid(0x20000 + i));
      for (let i = 0; i < ids.length; i += 2)
        await (await setPresence(ids[i] as string, writer, appId, true)).arrayBuffer();
      const batchOnce = async () => {
        const response = await fetch(`${service.url}/v1.0/communications/getPresencesByUserId`, json(reader, { ids }));
        if (!response.ok) throw new Error(`getPresencesByUserId: ${response.status}`);
        await response.arrayBuffer();
        return undefined;
      };
      const rpcOnce = async () => {
        await (await fetch(`${baseline.url}/rpc650`, { method: "POST" })).arrayBuffer();
        return undefined;
      };
      await measureLatencies(3, batchOnce);
      await measureLatencies(3, rpcOnce);
      const batch = await measureLatencies(BATCH_SAMPLES, batchOnce);
      const rpc = await measureLatencies(BATCH_SAMPLES, rpcOnce);
      record({
        name: "getPresencesByUserId with 650 ids (half never written)",
        figure: "median latency (ms)",
        value: median(batch),
        baseline: median(rpc),
        ratio: median(batch) / median(rpc),
        target: "median at most 3 x 650 parallel no-op RPCs",
        met: median(batch) <= 3 * median(rpc),
        notes: `p99 ${round(percentile(batch, 99))} ms vs ${round(percentile(rpc, 99))} ms`,
      });
    }

    if (selected("watchers")) {
      // 5. A change reaching many watchers.
      console.log(`A change reaching ${WATCHERS} watchers...`);
      record(
        await fanOutCase(service.url, baseline.url, reader, (busy) => setPresence(guid(0xfa0), writer, appId, busy)),
      );
    }

    if (selected("webhook")) {
      // 6. A change reaching a webhook.
      console.log("A change reaching a webhook...");
      record(
        await webhookCase(service.url, baseline.url, reader, (busy) => setPresence(guid(0xeb0), writer, appId, busy)),
      );
    }
  } finally {
    await service.stop();
    await baseline.stop();
  }

  printTable(results);
  if (only) {
    console.log("Ran only the cases matching --case; bench/results.json is left as it was.");
  } else {
    await writeFile("bench/results.json", `${JSON.stringify({ quick, cases: results }, null, 2)}\n`);
    console.log("Wrote bench/results.json");
  }

  async function measureWrites(request: (client: number, n: number) => Promise<Response>) {
    await measureThroughput(WARM_UP_MS, CONCURRENCY, request);
    return measureThroughput(SECONDS * 1000, CONCURRENCY, request);
  }
}

function throughputCase(
  name: string,
  service: { requestsPerSecond: number; failures: number },
  base: { requestsPerSecond: number; failures: number },
  target: number,
  kind: string,
): CaseResult {
  const ratio = service.requestsPerSecond / base.requestsPerSecond;
  return {
    name,
    figure: "requests/s",
    value: service.requestsPerSecond,
    baseline: base.requestsPerSecond,
    ratio,
    target: `at least ${target} x the ${kind} baseline`,
    met: ratio >= target,
    notes:
      service.failures + base.failures > 0
        ? `failed requests: service ${service.failures}, baseline ${base.failures}`
        : undefined,
  };
}

/** Opens a WebSocket with the browser's token form and resolves once it is open. */
function openSocket(url: string, token?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = token ? new WebSocket(url, ["presence.v1", `bearer.${token}`]) : new WebSocket(url);
    ws.addEventListener("open", () => resolve(ws), { once: true });
    ws.addEventListener("error", () => reject(new Error(`could not open ${url}`)), { once: true });
  });
}

async function fanOutCase(
  serviceUrl: string,
  baselineUrl: string,
  token: string,
  change: (busy: boolean) => Promise<Response>,
): Promise<CaseResult> {
  const user = guid(0xfa0);
  let busy = true;
  await (await change(busy)).arrayBuffer();
  const wsUrl = `${serviceUrl.replace(/^http/, "ws")}/v1.0/users/${user}/presence/watch`;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < WATCHERS; i += 50) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(50, WATCHERS - i) }, () => openSocket(wsUrl, token)),
    );
    sockets.push(...opened);
  }
  // A socket has the change once it receives a sequenceNumber newer than the one before the change.
  let before = "";
  let arrived = new Map<WebSocket, number>();
  let allArrived: (() => void) | null = null;
  for (const ws of sockets) {
    ws.addEventListener("message", (event) => {
      // The arrival time is taken first; parsing 1,000 messages in this one process is the client's cost, not the service's.
      const at = performance.now();
      const message = JSON.parse(String(event.data)) as { presence: { sequenceNumber: string } };
      if (before !== "" && message.presence.sequenceNumber > before && !arrived.has(ws)) {
        arrived.set(ws, at);
        if (arrived.size === sockets.length) allArrived?.();
      }
    });
  }
  await new Promise((r) => setTimeout(r, 500)); // the snapshots arrive and are ignored
  const latencies: number[] = [];
  for (let i = 0; i < FANOUT_CHANGES; i++) {
    before = await currentSequence(serviceUrl, user, token);
    arrived = new Map();
    const done = new Promise<void>((resolve) => {
      allArrived = resolve;
    });
    busy = !busy;
    const started = performance.now();
    await (await change(busy)).arrayBuffer();
    await done;
    latencies.push(Math.max(...arrived.values()) - started);
  }
  for (const ws of sockets) ws.close();

  const echo = await openSocket(`${baselineUrl.replace(/^http/, "ws")}/echo`);
  const echoTimes = await measureLatencies(FANOUT_CHANGES * 5, () => {
    const sent = performance.now();
    return new Promise((resolve) => {
      echo.addEventListener("message", () => resolve(performance.now() - sent), { once: true });
      echo.send("ping-baseline");
    });
  });
  echo.close();
  const p99 = percentile(latencies, 99);
  return {
    name: `a changed presence reaching ${WATCHERS} watchers`,
    figure: "p99 ms from the HTTP change to the last socket",
    value: p99,
    baseline: percentile(echoTimes, 99),
    ratio: p99 / percentile(echoTimes, 99),
    target: "p99 under 100 ms",
    met: p99 < 100,
    notes: `median ${round(median(latencies))} ms; baseline: one message echoed on one socket, median ${round(median(echoTimes))} ms`,
  };
}

async function currentSequence(serviceUrl: string, user: string, token: string): Promise<string> {
  const response = await fetch(`${serviceUrl}/v1.0/users/${user}/presence`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return ((await response.json()) as { sequenceNumber: string }).sequenceNumber;
}

async function webhookCase(
  serviceUrl: string,
  baselineUrl: string,
  token: string,
  change: (busy: boolean) => Promise<Response>,
): Promise<CaseResult> {
  let received: ((at: number) => void) | null = null;
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const validation = url.searchParams.get("validationToken");
    request.resume();
    request.on("end", () => {
      if (validation !== null) {
        response.writeHead(200, { "content-type": "text/plain" }).end(validation);
        return;
      }
      const at = performance.now();
      response.writeHead(202).end();
      received?.(at);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const nextArrival = () =>
    new Promise<number>((resolve) => {
      received = resolve;
    });
  try {
    const user = guid(0xeb0);
    const created = await fetch(`${serviceUrl}/v1.0/subscriptions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        changeType: "updated",
        notificationUrl: receiverUrl,
        resource: `/communications/presences/${user}`,
        expirationDateTime: new Date(Date.now() + 50 * 60_000).toISOString(),
      }),
    });
    if (created.status !== 201) throw new Error(`subscription: ${created.status} ${await created.text()}`);
    let busy = false;
    const latencies = await measureLatencies(WEBHOOK_CHANGES, async () => {
      const arrival = nextArrival();
      busy = !busy;
      const started = performance.now();
      await (await change(busy)).arrayBuffer();
      return (await arrival) - started;
    });
    const baseTimes = await measureLatencies(WEBHOOK_CHANGES, async () => {
      const arrival = nextArrival();
      const started = performance.now();
      await (
        await fetch(`${baselineUrl}/fetch`, { method: "POST", body: JSON.stringify({ url: receiverUrl }) })
      ).arrayBuffer();
      return (await arrival) - started;
    });
    const m = median(latencies);
    return {
      name: "a change reaching a webhook",
      figure: "median ms from the HTTP change to the receiver having the POST",
      value: m,
      baseline: median(baseTimes),
      ratio: m / median(baseTimes),
      target: "median under 100 ms",
      met: m < 100,
      notes: `p99 ${round(percentile(latencies, 99))} ms; baseline (one fetch from the Worker) p99 ${round(percentile(baseTimes, 99))} ms`,
    };
  } finally {
    server.close();
  }
}

function printTable(results: CaseResult[]) {
  const rows = results.map((r) => [
    r.name,
    r.figure,
    round(r.value),
    round(r.baseline),
    round(r.ratio),
    r.target,
    r.met ? "yes" : "NO",
  ]);
  const header = ["case", "figure", "value", "baseline", "ratio", "target", "met"];
  console.log(`\n| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  for (const r of results) if (r.notes) console.log(`- ${r.name}: ${r.notes}`);
}

await main();
