import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

// `npm run ops -- QUERY` (scripts/ops.mjs): the operator's questions (D31) as SQL against the
// Analytics Engine SQL API, printed as a table. The API is played by a local server answering a
// recorded answer (fixtures/), so the test needs no account and no network.

const run = promisify(execFile);
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const API_TOKEN = "test-token-not-real";

let answer = "";
let received: { method?: string; url?: string; authorization?: string; body: string } | undefined;
const server = createServer(async (request: IncomingMessage, response) => {
  let body = "";
  for await (const chunk of request) body += chunk;
  received = { method: request.method, url: request.url, authorization: request.headers.authorization, body };
  response.writeHead(200, { "content-type": "application/json" }).end(answer);
});
let base = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Runs the script as `npm run ops` does, with the operator's environment. */
function ops(args: string[], env: Record<string, string> = {}) {
  const { CLOUDFLARE_ACCOUNT_ID: _a, CLOUDFLARE_API_TOKEN: _t, OPS_API_BASE: _b, ...rest } = process.env;
  return run(process.execPath, ["scripts/ops.mjs", ...args], { env: { ...rest, ...env } });
}

const sqlOf = async (query: string) => (await ops([query, "--sql"])).stdout.trimEnd();

describe("npm run ops", () => {
  it("posts the query's SQL to the account's SQL API with the token, and prints the answer as a table", async () => {
    answer = await readFile("test/compat/fixtures/ops-requests.answer.json", "utf8");
    const { stdout } = await ops(["requests"], {
      CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
      CLOUDFLARE_API_TOKEN: API_TOKEN,
      OPS_API_BASE: base,
    });
    expect(received).toEqual({
      method: "POST",
      url: `/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`,
      authorization: `Bearer ${API_TOKEN}`,
      body: await sqlOf("requests"),
    });
    expect(stdout).toBe(await readFile("test/compat/fixtures/ops-requests.table.txt", "utf8"));
    expect(stdout).not.toContain(API_TOKEN);
  });

  it("says what is missing, and calls nothing, without the account id and token", async () => {
    received = undefined;
    const failed = await ops(["requests"], { OPS_API_BASE: base }).catch((error) => error);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain("CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN");
    expect(received).toBeUndefined();
  });

  it("reports the API's refusal with its status, and fails", async () => {
    answer = JSON.stringify({ errors: [{ code: 10000, message: "Authentication error" }] });
    const refusing = createServer((_request, response) => response.writeHead(403).end(answer));
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    try {
      const port = (refusing.address() as AddressInfo).port;
      const failed = await ops(["throttled"], {
        CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
        CLOUDFLARE_API_TOKEN: API_TOKEN,
        OPS_API_BASE: `http://127.0.0.1:${port}`,
      }).catch((error) => error);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain("the SQL API answered 403");
      expect(failed.stderr).not.toContain(API_TOKEN);
    } finally {
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });

  it("reads the dataset wrangler.toml binds as METRICS", async () => {
    const datasets = unstable_readConfig({ config: "wrangler.toml" }).analytics_engine_datasets;
    expect(datasets).toEqual([{ binding: "METRICS", dataset: "presence_metrics" }]);
    for (const query of ["requests", "fanout", "receivers", "throttled"]) {
      expect(await sqlOf(query)).toContain("FROM presence_metrics\n");
    }
  });

  it("runs exactly the SQL docs/operations.md shows, for each question", async () => {
    const docs = await readFile("docs/operations.md", "utf8");
    for (const query of ["requests", "fanout", "receivers", "throttled"]) {
      expect(docs).toContain(`npm run -s ops -- ${query}`);
      expect(docs).toContain(`\`\`\`sql\n${await sqlOf(query)}\n\`\`\``);
    }
  });
});
