import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

// What `npm run deploy` would upload, built the way it builds it, without an account or a network.

/**
 * The stricter of the limits Cloudflare has documented: 3 MiB after compression on the Free plan
 * (10 MiB on Paid), and later 64 MiB uncompressed on every plan. A bundle within both deploys
 * on any account.
 */
const MAX_COMPRESSED_BYTES = 3 * 1024 * 1024;
const MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024;

const run = promisify(execFile);
let outdir: string;
let output: string;

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), "deploy-dry-run-"));
  const { stdout, stderr } = await run(
    join("node_modules", ".bin", "wrangler"),
    ["deploy", "--dry-run", "--outdir", outdir],
    // No telemetry: the machine may have no network, and a test has nothing to report.
    { env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  output = stdout + stderr;
}, 120_000);

afterAll(async () => {
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

describe("a deploy", () => {
  it("builds the Worker, exporting its entry and every Durable Object class wrangler.toml binds", async () => {
    expect(output).toContain("--dry-run: exiting now.");
    const bundle = await readFile(join(outdir, "index.js"), "utf8");
    const exported = bundle.match(/^export \{([^}]*)\};/m)?.[1];
    const names = (exported ?? "").split(",").map((name) =>
      name
        .trim()
        .split(/\s+as\s+/)
        .at(-1),
    );
    const classes = unstable_readConfig({ config: "wrangler.toml" }).durable_objects.bindings.map(
      (binding: { class_name: string }) => binding.class_name,
    );
    expect(classes.length).toBeGreaterThan(0);
    expect(names).toEqual(expect.arrayContaining(["default", ...classes]));
  });

  it("stays within the Workers size limit", async () => {
    // Source maps are not uploaded (upload_source_maps is off); every other file is a module.
    const modules = (await readdir(outdir)).filter((name) => !name.endsWith(".map") && name !== "README.md");
    expect(modules).toContain("index.js");
    const contents = await Promise.all(modules.map((name) => readFile(join(outdir, name))));
    const size = contents.reduce((sum, bytes) => sum + bytes.length, 0);
    const compressed = contents.reduce((sum, bytes) => sum + gzipSync(bytes).length, 0);
    console.log(`Worker bundle: ${modules.join(", ")}; ${size} bytes, ${compressed} gzipped`);
    expect(compressed).toBeLessThanOrEqual(MAX_COMPRESSED_BYTES);
    expect(size).toBeLessThanOrEqual(MAX_UNCOMPRESSED_BYTES);
  });
});

describe("operating it (D31)", () => {
  it("binds the metrics dataset, so the build carries it", () => {
    expect(output).toMatch(/env\.METRICS \(presence_metrics\)\s+Analytics Engine Dataset/);
  });

  it("switches Workers Logs on, with the sampling rate as a documented setting", async () => {
    const { observability } = unstable_readConfig({ config: "wrangler.toml" });
    expect(observability?.enabled).toBe(true);
    const rate = observability?.head_sampling_rate;
    expect(typeof rate).toBe("number");
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(1);
    const logs = (await readFile("docs/configuration.md", "utf8")).split("\n## Logs")[1]?.split("\n## ")[0] ?? "";
    expect(logs).toContain("`head_sampling_rate`");
    expect(logs).toContain("`[observability]`");
  });
});

describe("wrangler.toml", () => {
  it("still parses with every optional setting uncommented, as its comments say to", async () => {
    const original = await readFile("wrangler.toml", "utf8");
    // Follow the hints: every commented `NAME = "value"` line (and any commented table header).
    const uncommented = original.replace(/^# (\[[a-z_.]+\]|[A-Z][A-Z0-9_]* = .*)$/gm, "$1");
    const hinted = [...original.matchAll(/^# ([A-Z][A-Z0-9_]*) = /gm)].map((match) => match[1]);
    expect(hinted).toEqual(expect.arrayContaining(["AUTH_JWKS_URL", "CORS_ORIGINS", "THROTTLE_READS_PER_30S"]));
    const scratch = await mkdtemp(join(tmpdir(), "wrangler-hints-"));
    try {
      await writeFile(join(scratch, "wrangler.toml"), uncommented);
      const { vars } = unstable_readConfig({ config: join(scratch, "wrangler.toml") });
      expect(Object.keys(vars)).toEqual(expect.arrayContaining(hinted));
      // Uncommenting them must not turn on anything for local runs only.
      expect(vars).not.toHaveProperty("DEV_MODE");
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
