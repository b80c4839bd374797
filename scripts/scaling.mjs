#!/usr/bin/env node
// npm run scaling: what one tenant costs per day on Cloudflare's published price units, and
// where it first hits a platform limit, from the measured costs of one operation (docs/scaling.md).
//
// Counted costs (requests, rows written) are the ones test/api/costs.test.ts pins; the CPU of a
// change per watcher comes from the latest `npm run bench` (bench/results.json). Every other
// number is a stated assumption about the workload, printed with the table; change them with
// flags: `npm run scaling -- --users 200000 --sockets 3000000`.
import { readFileSync } from "node:fs";

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i].replace(/^--/, ""), Number(process.argv[i + 1]));
const arg = (name, fallback) => (args.has(name) ? args.get(name) : fallback);

/** The workload of one tenant (the issue's: 100,000 users, 1,000,000 sockets, 10,000 subscriptions). */
const base = {
  users: arg("users", 100_000),
  sockets: arg("sockets", 1_000_000),
  subscriptions: arg("subscriptions", 10_000),
  /** Users a multi-user socket watches (a board of a team and its neighbours). */
  watchedPerSocket: arg("watched-per-socket", 50),
  /** Users a subscription covers (Graph allows 650). */
  usersPerSubscription: arg("users-per-subscription", 100),
  /** Visible changes of one user per day (calls, meetings, status messages, fades, expiries). */
  changesPerUser: arg("changes-per-user", 40),
  /** Invisible session refreshes per user per day: 2 apps, every 5 minutes, all day. */
  refreshesPerUser: arg("refreshes-per-user", 2 * 288),
  /** Presence reads per user per day (GETs, and ids in getPresencesByUserId). */
  readsPerUser: arg("reads-per-user", 200),
  /** Socket (re)connections per socket per day, and frames (reauthorize hourly, subscribes). */
  connectsPerSocket: arg("connects-per-socket", 2),
  framesPerSocket: arg("frames-per-socket", 26),
  /** Regions (continents) the sockets come from; each has its own pool of hubs. */
  regions: arg("regions", 3),
  /** The share of a day's changes in its busiest hour, for peak rates. */
  peakHourShare: arg("peak-hour-share", 0.12),
};

// The service's constants (src/config.ts, src/domain/fanout.ts) and counted costs (costs.test.ts).
const SOCKETS_PER_HUB = 4_000;
const RELAY_SHARDS = 16;
const SUBSCRIBERS_PER_JOB = 50;
const ROWS_PER_VISIBLE_CHANGE = 10; // with an audience; 7 without
const ROWS_PER_REFRESH = 2; // the session row, replaced
/** Assumed wall time an object is busy per call, for duration (128 MB each, billed while running). */
const BUSY_SECONDS = { user: 0.005, relay: 0.01, hubPerWatcher: null };

// Cloudflare's published price units (Workers Paid; developers.cloudflare.com/workers/platform/pricing,
// /durable-objects/platform/pricing, /queues/platform/pricing), monthly inclusions spread over 30 days.
const PRICES = {
  baseMonthly: 5,
  workerRequests: { perMillion: 0.3, includedDaily: 10e6 / 30 },
  doRequests: { perMillion: 0.15, includedDaily: 1e6 / 30 },
  doGbSeconds: { perMillion: 12.5, includedDaily: 400_000 / 30 },
  rowsWritten: { perMillion: 1.0, includedDaily: 50e6 / 30 },
  rowsRead: { perMillion: 0.001, includedDaily: 25e9 / 30 },
  queueOperations: { perMillion: 0.4, includedDaily: 1e6 / 30 },
};
// Published platform limits the design meets.
const LIMITS = {
  doRequestsPerSecond: 1_000, // soft limit per object
  socketsPerObject: 32_768,
  queueMessagesPerSecond: 5_000, // per queue
};

/** What the latest bench measured: the CPU of a change per watcher, in ms (service and floor). */
function measured() {
  try {
    const { cases } = JSON.parse(readFileSync(new URL("../bench/results.json", import.meta.url), "utf8"));
    const popular = cases.find((c) => c.name.startsWith("popular user, multi-user watchers"));
    const watchers = Number(/(\d[\d,]*) multi-user sockets/.exec(popular.name)?.[1].replace(/,/g, ""));
    const medians = [...popular.notes.matchAll(/median ([\d.]+) ms/g)].map((m) => Number(m[1]));
    return {
      source: "bench/results.json",
      perWatcherMs: medians[0] / watchers,
      floorPerWatcherMs: medians[1] / watchers,
    };
  } catch {
    return { source: "no bench/results.json: assumed", perWatcherMs: 0.09, floorPerWatcherMs: 0.06 };
  }
}

const expectedDistinct = (bins, balls) => bins * (1 - (1 - 1 / bins) ** balls);
const cost = (unit, daily) => (Math.max(0, daily - unit.includedDaily) * unit.perMillion) / 1e6;

function model(w, bench) {
  const hubsPerRegion = Math.ceil(w.sockets / w.regions / SOCKETS_PER_HUB);
  const hubs = hubsPerRegion * w.regions;
  const watchersPerUser = (w.sockets * w.watchedPerSocket) / w.users;
  const subscriptionsPerUser = (w.subscriptions * w.usersPerSubscription) / w.users;
  // A user's watchers land in random hubs of each region: the hubs a change must reach.
  const hubsPerChange = w.regions * expectedDistinct(hubsPerRegion, watchersPerUser / w.regions);
  const shardsWithSubs = expectedDistinct(RELAY_SHARDS, subscriptionsPerUser);
  const relaysPerChange = expectedDistinct(RELAY_SHARDS, hubsPerChange + subscriptionsPerUser);
  const jobsPerChange = shardsWithSubs * Math.ceil(subscriptionsPerUser / shardsWithSubs / SUBSCRIBERS_PER_JOB);

  const changes = w.users * w.changesPerUser;
  const refreshes = w.users * w.refreshesPerUser;
  const reads = w.users * w.readsPerUser;
  const connects = w.sockets * w.connectsPerSocket;
  const frames = w.sockets * w.framesPerSocket;
  const hubDeliveries = changes * hubsPerChange;
  // Users a hub watches: its sockets' picks, most of them shared.
  const usersPerHub = expectedDistinct(w.users, SOCKETS_PER_HUB * w.watchedPerSocket);
  const registrationsPerUser = (hubs * usersPerHub) / w.users;

  const daily = {
    workerRequests: changes + refreshes + reads + connects + changes * jobsPerChange * 0.01,
    doRequests:
      changes * (1 + relaysPerChange + hubsPerChange) + // the write, its relays, their hubs
      refreshes + // invisible writes
      reads + // each read reaches the user's object
      connects * (1 + 0.2 * w.watchedPerSocket) + // the socket's hub, and registrations not yet held
      frames / 20 + // incoming WebSocket messages bill at 20:1
      (changes * jobsPerChange) / 100, // registry look-ups, one per consumer batch
    // Hubs never idle at this rate (deliveries every few ms): billed all day; relays and users per call.
    doGbSeconds:
      (hubs * 86_400 +
        changes * relaysPerChange * BUSY_SECONDS.relay +
        (changes + refreshes + reads) * BUSY_SECONDS.user) *
      0.125,
    rowsWritten: changes * ROWS_PER_VISIBLE_CHANGE + refreshes * ROWS_PER_REFRESH,
    // Reads between deadlines come from memory; a change's record is read back once to be sent.
    rowsRead: changes * 2,
    queueOperations: changes * jobsPerChange * 3, // write, read, delete
  };
  const dollars = Object.fromEntries(Object.entries(daily).map(([k, v]) => [k, cost(PRICES[k], v)]));
  dollars.base = PRICES.baseMonthly / 30;
  const total = Object.values(dollars).reduce((a, b) => a + b, 0);

  const peak = (perDay) => (perDay * w.peakHourShare) / 3600;
  const limits = [
    {
      limit: "requests per hub (soft 1,000/s per object)",
      value: peak(hubDeliveries / hubs + (frames + connects) / hubs),
      max: LIMITS.doRequestsPerSecond,
    },
    { limit: "sockets per hub (32,768 per object)", value: SOCKETS_PER_HUB, max: LIMITS.socketsPerObject },
    {
      limit: "webhook jobs on one queue (5,000 messages/s)",
      value: peak(changes * jobsPerChange),
      max: LIMITS.queueMessagesPerSecond,
    },
    {
      // A deploy drops every socket; as they reconnect, each hub registers again with every user
      // it watches. Spread over a minute, each user's object takes this many calls a second.
      limit: "calls to a user's object while every socket reconnects in a minute (1,000/s)",
      value: registrationsPerUser / 60,
      max: LIMITS.doRequestsPerSecond,
    },
  ];
  const cpuPerChangeMs = watchersPerUser * bench.perWatcherMs;
  // Each registration is a call to the user's object and one to its relay.
  const deployDollars = (hubs * usersPerHub * 2 * PRICES.doRequests.perMillion) / 1e6;
  return {
    deployDollars,
    hubs,
    watchersPerUser,
    subscriptionsPerUser,
    hubsPerChange,
    relaysPerChange,
    jobsPerChange,
    daily,
    dollars,
    total,
    limits,
    cpuPerChangeMs,
  };
}

const fmt = (n) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(2)} B`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(2)} M`
      : n >= 1e3
        ? `${(n / 1e3).toFixed(1)} k`
        : n.toFixed(n < 10 ? 2 : 0);
const usd = (n) => `$${n.toFixed(2)}`;

const bench = measured();
const scales = [
  ["1x", base],
  ["10x", { ...base, users: base.users * 10, sockets: base.sockets * 10, subscriptions: base.subscriptions * 10 }],
];
const runs = scales.map(([name, w]) => [name, w, model(w, bench)]);

console.log(`# One tenant per day (${new Date().toISOString().slice(0, 10)}; CPU per watcher from ${bench.source})\n`);
console.log("| | 1x | 10x |\n|---|---|---|");
const row = (label, get) => console.log(`| ${label} | ${runs.map(([, w, m]) => get(w, m)).join(" | ")} |`);
row("users / sockets / subscriptions", (w) => `${fmt(w.users)} / ${fmt(w.sockets)} / ${fmt(w.subscriptions)}`);
row(
  "watchers per user (avg) / subscriptions per user",
  (_w, m) => `${fmt(m.watchersPerUser)} / ${fmt(m.subscriptionsPerUser)}`,
);
row("hubs (4,000 sockets each)", (_w, m) => fmt(m.hubs));
row(
  "per change: relays / hubs / webhook jobs",
  (_w, m) => `${fmt(m.relaysPerChange)} / ${fmt(m.hubsPerChange)} / ${fmt(m.jobsPerChange)}`,
);
row("per change: CPU for its watchers (ms, as measured)", (_w, m) => fmt(m.cpuPerChangeMs));
for (const key of Object.keys(PRICES).filter((k) => k !== "baseMonthly")) {
  row(`${key} per day`, (_w, m) => `${fmt(m.daily[key])} (${usd(m.dollars[key])})`);
}
row("**total per day** (with the $5/month plan)", (_w, m) => `**${usd(m.total)}**`);
row("once per deploy (every socket registers again)", (_w, m) => usd(m.deployDollars));
console.log("\n## Platform limits at the busiest hour\n");
console.log("| limit | 1x | 10x |\n|---|---|---|");
for (let i = 0; i < runs[0][2].limits.length; i++) {
  const label = runs[0][2].limits[i].limit;
  console.log(
    `| ${label} | ${runs
      .map(([, , m]) => {
        const l = m.limits[i];
        return `${fmt(l.value)} (${Math.round((100 * l.value) / l.max)}%)`;
      })
      .join(" | ")} |`,
  );
}
console.log("\nAssumptions:", JSON.stringify(base));
