#!/usr/bin/env node
// npm run ops -- QUERY: answers an operator's question from the service's metrics (D31), with the
// Workers Analytics Engine SQL API, as an aligned table. The queries are the ones
// docs/operations.md explains; the columns they read are the schema in src/observability/metrics.ts.
//
//   CLOUDFLARE_ACCOUNT_ID=... CLOUDFLARE_API_TOKEN=... npm run -s ops -- requests [--hours 24]
//   npm run -s ops -- fanout --sql          (prints the SQL only; needs no account)
//
// The token needs the permission Account > Account Analytics > Read. It is sent to the API only,
// never printed. OPS_API_BASE replaces https://api.cloudflare.com/client/v4 (a proxy, or a test).
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

/** The dataset wrangler.toml binds as METRICS (test/compat/ops-script.test.ts checks they agree). */
export const DATASET = "presence_metrics";

const since = (hours) => `timestamp > NOW() - INTERVAL '${hours}' HOUR`;

/**
 * Each question, as SQL over the last `hours`. Counts and sums are weighted by `_sample_interval`,
 * so they stay right when Analytics Engine samples a busy tenant.
 */
export const QUERIES = {
  requests: {
    question: "Requests and p50/p99 latency per tenant and route",
    sql: (hours) => `SELECT
  blob2 AS tenant,
  blob4 AS route,
  SUM(_sample_interval) AS requests,
  SUM(if(double2 >= 500, _sample_interval, 0)) AS errors_5xx,
  quantileExactWeighted(0.5)(double1, _sample_interval) AS p50_ms,
  quantileExactWeighted(0.99)(double1, _sample_interval) AS p99_ms
FROM ${DATASET}
WHERE blob1 = 'request' AND ${since(hours)}
GROUP BY tenant, route
ORDER BY requests DESC
LIMIT 50`,
  },
  fanout: {
    question: "How long a change takes to reach its hubs, per tenant (complete) and how often a relay failed (retry)",
    sql: (hours) => `SELECT
  blob2 AS tenant,
  blob5 AS outcome,
  SUM(_sample_interval) AS batches,
  SUM(_sample_interval * double4) AS changes,
  round(SUM(_sample_interval * double2) / SUM(_sample_interval), 1) AS relays_per_batch,
  round(SUM(_sample_interval * double3) / SUM(_sample_interval), 1) AS hubs_per_batch,
  quantileExactWeighted(0.5)(double1, _sample_interval) AS p50_lag_ms,
  quantileExactWeighted(0.99)(double1, _sample_interval) AS p99_lag_ms
FROM ${DATASET}
WHERE blob1 = 'fanout' AND ${since(hours)}
GROUP BY tenant, outcome
ORDER BY p99_lag_ms DESC
LIMIT 50`,
  },
  receivers: {
    question: "Webhook receivers that failed, by host, tenant and app, with their latest outcome",
    sql: (hours) => `SELECT
  blob6 AS host,
  blob2 AS tenant,
  blob3 AS app,
  SUM(_sample_interval) AS posts,
  SUM(if(blob5 = '2xx', 0, _sample_interval)) AS failed,
  argMax(blob5, timestamp) AS latest,
  max(double2) AS max_attempt,
  quantileExactWeighted(0.99)(double1, _sample_interval) AS p99_ms
FROM ${DATASET}
WHERE blob1 = 'delivery' AND ${since(hours)}
GROUP BY host, tenant, app
HAVING failed > 0
ORDER BY failed DESC
LIMIT 50`,
  },
  throttled: {
    question: "Applications refused by the throttle (D20), per budget",
    sql: (hours) => `SELECT
  blob2 AS tenant,
  blob3 AS app,
  blob5 AS budget,
  SUM(_sample_interval) AS refusals,
  argMax(blob4, timestamp) AS latest_route,
  max(timestamp) AS latest
FROM ${DATASET}
WHERE blob1 = 'throttle' AND ${since(hours)}
GROUP BY tenant, app, budget
ORDER BY refusals DESC
LIMIT 50`,
  },
};

export const DEFAULT_HOURS = 24;

const NUMERIC = /^(Nullable\()?(U?Int|Float|Decimal)/;

/** A value as the table shows it: floats to one decimal, empty strings as "-". */
function cell(value, numeric) {
  if (value === null || value === undefined || value === "") return "-";
  if (numeric && typeof value === "number" && !Number.isInteger(value)) return value.toFixed(1);
  return String(value);
}

/**
 * The SQL API's JSON answer (`{ meta: [{ name, type }], data: [{...}], rows }`) as an aligned
 * table: a header, a rule, one line per row (numbers to the right), and the row count.
 */
export function formatTable(answer) {
  const columns = answer.meta.map(({ name, type }) => ({ name, numeric: NUMERIC.test(type) }));
  const rows = answer.data.map((row) => columns.map(({ name, numeric }) => cell(row[name], numeric)));
  const widths = columns.map(({ name }, i) => Math.max(name.length, ...rows.map((row) => row[i].length)));
  const line = (cells) =>
    cells
      .map((text, i) => (columns[i].numeric ? text.padStart(widths[i]) : text.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const count = answer.rows ?? rows.length;
  return [
    line(columns.map(({ name }) => name)),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
    `(${count} ${count === 1 ? "row" : "rows"})`,
  ].join("\n");
}

/** Runs one query's SQL against the account's Analytics Engine; returns the parsed answer. */
export async function runSql(sql, { accountId, apiToken, base = "https://api.cloudflare.com/client/v4" }) {
  const response = await fetch(`${base}/accounts/${encodeURIComponent(accountId)}/analytics_engine/sql`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiToken}`, "content-type": "text/plain" },
    // No FORMAT clause: the API answers JSON (meta, data, rows) by default.
    body: sql,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`the SQL API answered ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

const usage = `Usage: npm run -s ops -- QUERY [--hours N] [--sql]
Queries (docs/operations.md, "Queries"):
${Object.entries(QUERIES)
  .map(([name, { question }]) => `  ${name.padEnd(10)} ${question}`)
  .join("\n")}
--hours N  the last N hours (default ${DEFAULT_HOURS})
--sql      print the SQL instead of running it
Needs CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics: Read) in the environment.`;

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      hours: { type: "string", default: String(DEFAULT_HOURS) },
      sql: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  const query = QUERIES[positionals[0]];
  const hours = Number(values.hours);
  if (values.help || !query || positionals.length !== 1 || !Number.isInteger(hours) || hours < 1) {
    console.log(usage);
    process.exit(values.help ? 0 : 2);
  }
  const sql = query.sql(hours);
  if (values.sql) {
    console.log(sql);
    return;
  }
  const accountId = process.env.CLOUDFLARE_ACCOUNT_ID;
  const apiToken = process.env.CLOUDFLARE_API_TOKEN;
  if (!accountId || !apiToken) {
    console.error(
      "Set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics: Read); see docs/operations.md.",
    );
    process.exit(2);
  }
  const answer = await runSql(sql, { accountId, apiToken, base: process.env.OPS_API_BASE || undefined });
  console.log(`${query.question}, last ${hours} h:\n`);
  console.log(formatTable(answer));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
