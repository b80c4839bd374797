#!/usr/bin/env node
// npm run scaling: what one tenant costs per day on Cloudflare's published price units, and
// where it first hits a platform limit, from the measured costs of one operation (docs/scaling.md).
//
// Counted costs (requests, rows written) are the ones test/api/costs.test.ts pins; the CPU of a
// change per watcher comes from the latest `npm run bench` (bench/results.json). Every other
// number is a stated assumption about the workload, printed with the table; change them with
// flags: `npm run scaling -- --users 200000 --sockets 3000000`.
//
// Reads near the reader (D30) get two more tables: what the regional read views cost a tenant per
// day against the calls to users' objects they save, for a few ways of reading, with the break-even;
// and a reader's latency per continent with and without views, from published round-trip times
// between cloud regions (`--home "East US"` puts the users' objects elsewhere).
import { readFileSync } from "node:fs";

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) {
  const value = process.argv[i + 1] ?? "";
  args.set(process.argv[i].replace(/^--/, ""), Number.isNaN(Number(value)) ? value : Number(value));
}
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
  /** Presence reads per user per day in the main table: occasional GETs, spread over the reading hours. */
  readsPerUser: arg("reads-per-user", 200),
  /** Continents each user is read from (each has its own read views, D30), and the hours a day it is read there. */
  readRegions: arg("read-regions", 3),
  readHours: arg("read-hours", 10),
  /** Polling clients: each user is on the boards of this many clients, each board a getPresencesByUserId. */
  boardsPerUser: arg("boards-per-user", 50),
  boardSize: arg("board-size", 50),
  pollSeconds: arg("poll-seconds", 30),
  slowPollSeconds: arg("slow-poll-seconds", 300),
  /** Wallboards: screens polling 650 ids (Graph's largest batch); each user is on this many. */
  wallboardsPerUser: arg("wallboards-per-user", 3),
  wallboardSeconds: arg("wallboard-seconds", 10),
  /** The read views' settings (READ_VIEW_LEASE_MS, READ_VIEW_IDLE_MS in src/config.ts). */
  leaseSeconds: arg("lease-seconds", 5),
  idleMinutes: arg("idle-minutes", 10),
  /** Where the users' objects live, for the latency table: a region of RTT_MS below. */
  home: arg("home", "West Europe"),
  /** A Worker's call to a Durable Object in the same place, the object's own work included (ms). */
  floorMs: arg("floor-ms", 5),
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
/** Marginal price units, for comparisons within a tenant already past the monthly inclusions. */
const marginal = (requests, rows, gbSeconds) =>
  (requests * PRICES.doRequests.perMillion +
    rows * PRICES.rowsWritten.perMillion +
    gbSeconds * PRICES.doGbSeconds.perMillion) /
  1e6;
// Published platform limits the design meets.
const LIMITS = {
  doRequestsPerSecond: 1_000, // soft limit per object
  socketsPerObject: 32_768,
  memoryPerObject: 128 * 2 ** 20, // per isolate, which several objects of a class may share
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

// --- Reads near the reader (D30): the regions' read views ------------------------------------------

/** Read views per tenant and region (READ_VIEW_SHARDS), and Graph's largest batch. */
const VIEW_SHARDS = 16;
const BATCH_MAX = 650;
/** Users' objects a Worker reads at once: the batch route before views, and its fallback now. */
const HOME_READ_CONCURRENCY = 64;
/** Background renewals a view runs at once (src/objects/read-view.ts). */
const RENEW_CONCURRENCY = 8;
/** Rows a registration writes (the view's name in the user's object and in one relay); a release deletes them. */
const ROWS_PER_HOLD = 4;
/** Rows a change writes for its relays (its record, written then deleted) when views are its only audience. */
const ROWS_PER_RECORD = 3;
/** Memory a view spends per user it holds: both audiences' views, a short status message (measured in Node). */
const VIEW_ENTRY_BYTES = 1_200;

/**
 * Per id read, when the reads of a user in one region come at random (many independent clients),
 * `perLease` of them per lease on average. A view that heard from the user's object answers from
 * memory; the first read past half the lease renews in the background, and one past the whole lease
 * waits for that call. So a renewal cycle lasts half a lease plus the wait for the next read: one
 * call home per (perLease / 2 + 1) reads, and the read waits when none came in the lease's second
 * half (probability e^(-perLease / 2)). A request of n ids calls one view per shard it touches.
 */
function perRead(perLease, idsPerRequest) {
  const home = 2 / (perLease + 2);
  return {
    home,
    views: expectedDistinct(VIEW_SHARDS, idsPerRequest) / idsPerRequest,
    waits: home * Math.exp(-perLease / 2),
  };
}

/** The ways of reading compared: ids read per user per day, and the ids one request names. */
function readPatterns(w) {
  const seconds = w.readHours * 3600;
  return [
    { name: "occasional GETs", idsPerUser: w.readsPerUser, idsPerRequest: 1 },
    {
      name: `boards of ${w.boardSize} polled every ${w.pollSeconds} s`,
      idsPerUser: (w.boardsPerUser * seconds) / w.pollSeconds,
      idsPerRequest: w.boardSize,
    },
    {
      name: `boards of ${w.boardSize} polled every ${w.slowPollSeconds} s`,
      idsPerUser: (w.boardsPerUser * seconds) / w.slowPollSeconds,
      idsPerRequest: w.boardSize,
    },
    {
      name: `${BATCH_MAX}-id wallboards polled every ${w.wallboardSeconds} s`,
      idsPerUser: (w.wallboardsPerUser * seconds) / w.wallboardSeconds,
      idsPerRequest: BATCH_MAX,
    },
  ];
}

/**
 * One day of a tenant's reads of one pattern, before views (every id one call to its user's object)
 * and with them. Reads come in the reading hours of each region, at random; visible changes are
 * made in those hours too (an upper bound on what reaches the views).
 */
function readViewDay(w, pattern) {
  const lease = w.leaseSeconds;
  const idle = w.idleMinutes * 60;
  const seconds = w.readHours * 3600;
  const perRegion = pattern.idsPerUser / w.readRegions;
  const rate = perRegion / seconds;
  const perLease = rate * lease;
  const per = perRead(perLease, pattern.idsPerRequest);
  // A view holds a user from a read until nobody read it for the idle time: a read starts a new
  // hold (a registration, later a release) when the gap before it is longer than that.
  const holdsPerRegion = Math.min(perRegion, 1 + perRegion * Math.exp(-rate * idle));
  // Each read keeps the user held until the next read or the idle time, whichever comes first.
  const heldShare = 1 - Math.exp(-rate * idle);
  const ids = w.users * pattern.idsPerUser;
  const holds = w.users * w.readRegions * holdsPerRegion;
  const changesHeld = w.users * w.changesPerUser * heldShare;
  // Users watched or subscribed already have relays in every shard: views add no relay call then.
  const viewsOnly = w.sockets * w.watchedPerSocket === 0 && w.subscriptions === 0;
  const viewCount = w.readRegions * VIEW_SHARDS;
  const viewSeconds = Math.min(86_400, seconds + idle);
  const calls = {
    views: ids * per.views,
    renewals: ids * per.home,
    registrations: holds, // the user's object tells one relay (the read itself is among `renewals`)
    releases: holds * 2, // the view tells the user's object, which tells the relay
    deliveries: changesHeld * w.readRegions + changesHeld, // the relays, and the writer's Worker (read-your-writes)
    viewRelays: viewsOnly ? changesHeld * expectedDistinct(RELAY_SHARDS, w.readRegions) : 0,
    // An alarm releases the users idle by then; at most one a second per view.
    alarms: viewCount * Math.min(holds / viewCount, viewSeconds),
  };
  const requests = Object.values(calls).reduce((a, b) => a + b, 0);
  const home = calls.renewals + holds;
  const relays = holds * 2 + calls.viewRelays;
  // Views hold users in memory through the reading hours (not hibernatable): billed all that time.
  const gbSeconds = (viewCount * viewSeconds + home * BUSY_SECONDS.user + relays * BUSY_SECONDS.relay) * 0.125;
  const rows = holds * ROWS_PER_HOLD + (viewsOnly ? changesHeld * ROWS_PER_RECORD : 0);
  const before = { requests: ids, home: ids, rows: 0, gbSeconds: ids * BUSY_SECONDS.user * 0.125 };
  before.dollars = marginal(before.requests, before.rows, before.gbSeconds);
  return {
    pattern,
    ids,
    // Reads, deliveries and alarms a view takes, spread over the reading hours.
    perViewPerSecond: (calls.views + calls.deliveries + calls.alarms) / viewCount / seconds,
    homePerViewPerSecond: home / viewCount / seconds,
    // Each view holds its shard of the users read in its region.
    viewBytes: (w.users / VIEW_SHARDS) * VIEW_ENTRY_BYTES,
    perRegion,
    perLease,
    per,
    holdsPerRegion,
    calls,
    before,
    with: { requests, home, rows, gbSeconds, dollars: marginal(requests, rows, gbSeconds) },
  };
}

// --- A reader's latency per continent ------------------------------------------------------------

/**
 * Round trips between cloud regions, in ms: Microsoft's published monthly P50 between Azure
 * regions (learn.microsoft.com/azure/networking/azure-network-latency, the 30 days ending
 * 2026-07-30), row = from, column = to, for the regions standing in for the readers' and the
 * objects' places below. Cloudflare's own data centers are not these, but sit in the same metros.
 */
const RTT_SOURCE = "Azure's published P50 round trips between its regions, 30 days ending 2026-07-30";
const RTT_SITES = [
  "West Europe",
  "Germany West Central",
  "East US",
  "West US",
  "Brazil South",
  "Southeast Asia",
  "Japan East",
  "Central India",
  "UAE North",
  "Australia East",
  "South Africa North",
];
const RTT_MS = [
  [0, 11, 85, 146, 185, 169, 233, 140, 111, 265, 166],
  [11, 0, 94, 151, 196, 166, 235, 139, 118, 266, 165],
  [83, 94, 0, 69, 117, 224, 162, 198, 174, 201, 219],
  [145, 152, 67, 0, 169, 170, 108, 218, 234, 140, 273],
  [185, 198, 118, 169, 0, 331, 262, 304, 277, 295, 321],
  [169, 166, 224, 170, 330, 0, 72, 53, 83, 95, 177],
  [234, 236, 162, 107, 262, 72, 0, 122, 152, 103, 251],
  [139, 140, 201, 217, 303, 53, 122, 0, 32, 145, 131],
  [111, 100, 176, 236, 274, 83, 151, 32, 0, 173, 103],
  [264, 267, 202, 140, 295, 95, 104, 144, 172, 0, 328],
  [166, 166, 220, 272, 321, 177, 247, 130, 103, 328, 0],
];
const rtt = (from, to) => {
  const [i, j] = [RTT_SITES.indexOf(from), RTT_SITES.indexOf(to)];
  if (i < 0 || j < 0) throw new Error(`no round trip known between ${from} and ${to}: pick one of ${RTT_SITES}`);
  return RTT_MS[i][j];
};

/**
 * Where each continent's read views live. A view is created near its first request and stays there
 * (Cloudflare's data-location page); we assume that is the continent's main Durable Objects region.
 * Durable Objects do not spawn in South America, Africa or the Middle East: South America's are
 * created in eastern North America (Cloudflare's example); Africa's we assume in western Europe.
 * Cloudflare counts the Middle East as Asia (`request.cf.continent`), so it shares Asia's views.
 */
const VIEW_SITE = {
  EU: "West Europe",
  NA: "East US",
  SA: "East US",
  AS: "Southeast Asia",
  OC: "Australia East",
  AF: "West Europe",
};
const READERS = [
  ["Frankfurt", "EU", "Germany West Central"],
  ["Virginia", "NA", "East US"],
  ["California", "NA", "West US"],
  ["São Paulo", "SA", "Brazil South"],
  ["Singapore", "AS", "Southeast Asia"],
  ["Tokyo", "AS", "Japan East"],
  ["Pune", "AS", "Central India"],
  ["Dubai", "AS", "UAE North"],
  ["Sydney", "OC", "Australia East"],
  ["Johannesburg", "AF", "South Africa North"],
];

/** A warm or cold read's latency from each reader, before views and with them (ms, after the reader's own hop to Cloudflare). */
function latencies(w) {
  const home = RTT_SITES.find((site) => site.toLowerCase() === String(w.home).toLowerCase());
  if (!home) throw new Error(`--home: one of ${RTT_SITES.join(", ")}`);
  const call = (ms) => ms + w.floorMs;
  const waves = Math.ceil(BATCH_MAX / HOME_READ_CONCURRENCY);
  // A cold batch: each view asks its share of the ids at home, all at once.
  const perView = Math.ceil(BATCH_MAX / VIEW_SHARDS);
  const viewWaves = Math.ceil(perView / HOME_READ_CONCURRENCY);
  return {
    home,
    waves,
    rows: READERS.map(([city, continent, site]) => {
      const view = VIEW_SITE[continent];
      const [toHome, toView, viewToHome] = [rtt(site, home), rtt(site, view), rtt(view, home)];
      return {
        reader: `${city} (${site})`,
        continent,
        view,
        toHome,
        toView,
        get: [call(toHome), call(toView)],
        batch: [waves * call(toHome), call(toView)],
        coldGet: call(toView) + call(viewToHome),
        coldBatch: call(toView) + viewWaves * call(viewToHome),
      };
    }),
  };
}

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

  // The reads of the main table are occasional GETs through the read views (D30).
  const views = readViewDay(w, readPatterns(w)[0]);

  const daily = {
    workerRequests: changes + refreshes + reads + connects + changes * jobsPerChange * 0.01,
    doRequests:
      changes * (1 + relaysPerChange + hubsPerChange) + // the write, its relays, their hubs
      refreshes + // invisible writes
      views.with.requests + // reads: their views, users' objects, registrations, deliveries
      connects * (1 + 0.2 * w.watchedPerSocket) + // the socket's hub, and registrations not yet held
      frames / 20 + // incoming WebSocket messages bill at 20:1
      (changes * jobsPerChange) / 100 + // registry look-ups, one per consumer batch
      changes * shardsWithSubs, // the consumer settles each relay's jobs in its outbox, one call per relay
    // Hubs never idle at this rate (deliveries every few ms): billed all day; relays and users per call.
    doGbSeconds:
      (hubs * 86_400 + changes * relaysPerChange * BUSY_SECONDS.relay + (changes + refreshes) * BUSY_SECONDS.user) *
        0.125 +
      views.with.gbSeconds,
    // A relay's outbox keeps each webhook job until delivered: a row written, then deleted.
    rowsWritten:
      changes * ROWS_PER_VISIBLE_CHANGE + refreshes * ROWS_PER_REFRESH + views.with.rows + changes * jobsPerChange * 2,
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
      limit: "requests per read view in the reading hours, occasional GETs (soft 1,000/s)",
      value: views.perViewPerSecond,
      max: LIMITS.doRequestsPerSecond,
    },
    {
      limit: "bytes a read view holds, 1.2 kB per user (128 MB per isolate)",
      value: views.viewBytes,
      max: LIMITS.memoryPerObject,
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

// --- Reads near the reader (D30) -------------------------------------------------------------------

const arrow = (before, after, format = fmt) => `${format(before)} → ${format(after)}`;
const pct = (n) => `${Math.round(100 * n)}%`;
const every = (perLease) => `${fmt(base.leaseSeconds / perLease)} s`;
const days = readPatterns(base).map((pattern) => readViewDay(base, pattern));
console.log(
  `\n## Read views (D30): a day of ${fmt(base.users)} users' reads, before views → with them (Durable Object requests)\n`,
);
console.log(`| | ${days.map((d) => d.pattern.name).join(" | ")} |\n|---|${days.map(() => "---").join("|")}|`);
const viewRow = (label, get) => console.log(`| ${label} | ${days.map(get).join(" | ")} |`);
viewRow("ids read per user per day (GETs, or ids in batches)", (d) => fmt(d.pattern.idsPerUser));
viewRow(
  `reads of a user per region and lease (${base.leaseSeconds} s): one every`,
  (d) => `${fmt(d.perLease)}: ${every(d.perLease)}`,
);
viewRow("calls to users' objects for reads", (d) => arrow(d.before.home, d.calls.renewals));
viewRow("calls to the region's views for reads", (d) => arrow(0, d.calls.views));
viewRow("holds a day (a registration with a relay, later a release)", (d) =>
  fmt(d.holdsPerRegion * base.readRegions * base.users),
);
viewRow("registration and release calls (user's object, relay)", (d) => fmt(d.calls.registrations + d.calls.releases));
viewRow("changes delivered to views, and writes handed to the writer's view", (d) => fmt(d.calls.deliveries));
viewRow("relay calls for users only views hear", (d) => fmt(d.calls.viewRelays));
viewRow("the views' alarms (releases)", (d) => fmt(d.calls.alarms));
viewRow("**all Durable Object requests**", (d) => `**${arrow(d.before.requests, d.with.requests)}**`);
viewRow("of which to users' objects (the calls that cross continents)", (d) => arrow(d.before.home, d.with.home));
viewRow("requests a view takes per second in the reading hours (soft limit 1,000)", (d) => fmt(d.perViewPerSecond));
viewRow(`calls a view makes to users' objects per second (renewals run ${RENEW_CONCURRENCY} at a time)`, (d) =>
  fmt(d.homePerViewPerSecond),
);
viewRow("reads that wait for the user's object", (d) => arrow(1, d.per.waits, pct));
viewRow("rows written (registrations, releases)", (d) => arrow(d.before.rows, d.with.rows));
viewRow("GB-s (views held through the reading hours; users' objects and relays per call)", (d) =>
  arrow(d.before.gbSeconds, d.with.gbSeconds),
);
viewRow(
  "**dollars a day** (marginal: requests, rows, GB-s)",
  (d) => `**${arrow(d.before.dollars, d.with.dollars, usd)}**`,
);

console.log(`\n## Break-even: Durable Object requests per id read (before views: 1)\n`);
const shapes = [
  ["GET", 1],
  [`${base.boardSize}-id board`, base.boardSize],
  [`${BATCH_MAX}-id batch`, BATCH_MAX],
];
console.log(
  `| reads of a user per region and lease | a read every | calls to the user's object | ${shapes.map(([name]) => `with views: ${name}`).join(" | ")} | reads that wait |`,
);
console.log(`|---|---|---|${shapes.map(() => "---").join("|")}|---|`);
for (const perLease of [0.01, 0.1, 0.5, 1, 2, 4, 10, 100]) {
  const home = perRead(perLease, 1).home;
  console.log(
    `| ${perLease} | ${every(perLease)} | ${home.toFixed(2)} | ${shapes
      .map(([, ids]) => (perRead(perLease, ids).views + home).toFixed(2))
      .join(" | ")} | ${pct(perRead(perLease, 1).waits)} |`,
  );
}
// With views an id costs `views + 2 / (r + 2)`: it pays below 1 from r = 2v / (1 - v) on.
const breakEven = (ids) => {
  const v = perRead(1, ids).views;
  return v >= 1 ? "never" : `${(2 * v) / (1 - v) < 0.1 ? ((2 * v) / (1 - v)).toFixed(2) : fmt((2 * v) / (1 - v))}`;
};
console.log(`| **break-even** | | | ${shapes.map(([, ids]) => `**${breakEven(ids)}**`).join(" | ")} | |`);

const lat = latencies(base);
console.log(`\n## A reader's latency per continent, users' objects in ${lat.home} (ms, before views → with them)\n`);
console.log(
  `| reader (round trips of the Azure region) | continent | its views in | round trip home / to its views | warm GET: 1 call home → 1 view call | warm ${BATCH_MAX} ids: ${BATCH_MAX} calls home (${lat.waves} waves of ${HOME_READ_CONCURRENCY}) → ${VIEW_SHARDS} view calls | with views, a first read or one past the lease (GET / ${BATCH_MAX} ids): view calls + calls home |`,
);
console.log("|---|---|---|---|---|---|---|");
for (const r of lat.rows) {
  console.log(
    `| ${r.reader} | ${r.continent} | ${r.view} | ${r.toHome} / ${r.toView} | ${arrow(...r.get, String)} | ${arrow(...r.batch, String)} | ${r.coldGet} / ${r.coldBatch} |`,
  );
}
console.log(
  `\nRound trips: ${RTT_SOURCE}; every call adds the platform floor (${base.floorMs} ms, assumed). The reader's own hop to Cloudflare is the same either way and left out.`,
);

console.log("\nAssumptions:", JSON.stringify(base));
