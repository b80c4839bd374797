import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import chromiumFromNpm from "@sparticuz/chromium";
import { type Browser, chromium } from "playwright-core";

/** Debian's package, where a machine has it. */
const SYSTEM_CHROMIUM = "/usr/bin/chromium";
/** Where the npm build is unpacked: this checkout's own, so no other project's run can touch it. */
const UNPACKED = resolve("node_modules", ".cache", "chromium");

/**
 * @sparticuz/chromium unpacks itself into os.tmpdir() and afterwards takes whatever file is there
 * for a finished one, so a run stopped midway, or two runs at once, would leave a broken browser
 * for every later run. Unpack into a scratch folder instead and rename it into place whole: a
 * folder is either complete or absent, and when two runs race the second one's copy is dropped.
 */
async function unpackedChromium(): Promise<string> {
  const binary = join(UNPACKED, "chromium");
  if (existsSync(binary)) return binary;
  await mkdir(resolve(UNPACKED, ".."), { recursive: true });
  const scratch = await mkdtemp(`${UNPACKED}-unpacking-`);
  const tmpdir = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  try {
    await chromiumFromNpm.executablePath();
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
  await rename(scratch, UNPACKED).catch(() => rm(scratch, { recursive: true, force: true }));
  return binary;
}

/**
 * The Chromium the end-to-end test drives: `CHROMIUM_PATH` when set, else the system's, else the
 * headless build that `npm install` brought (@sparticuz/chromium), so a fresh clone needs no
 * system package.
 */
export async function chromiumExecutable(
  env: NodeJS.ProcessEnv = process.env,
  systemPath = SYSTEM_CHROMIUM,
): Promise<{ path: string; source: "CHROMIUM_PATH" | "system" | "npm" }> {
  const chosen = env.CHROMIUM_PATH;
  if (chosen) {
    // A path the user named and that is not there is a mistake to report, not to paper over.
    if (!existsSync(chosen)) throw new Error(`CHROMIUM_PATH is ${chosen}, and there is no file there.`);
    return { path: chosen, source: "CHROMIUM_PATH" };
  }
  if (existsSync(systemPath)) return { path: systemPath, source: "system" };
  // Unpacked on first use (about 2 s), then reused.
  return { path: await unpackedChromium(), source: "npm" };
}

/**
 * Not `chromiumFromNpm.args`: those are for serverless hosts and include
 * `--disable-web-security`, which would hide the Content-Security-Policy problems the test
 * looks for. Both builds start with these; the background ones keep a closed network quiet.
 */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export async function launchChromium(): Promise<Browser> {
  const { path, source } = await chromiumExecutable();
  console.log(`Chromium: ${source}, ${path}`);
  try {
    return await chromium.launch({ executablePath: path, args: CHROMIUM_ARGS });
  } catch (error) {
    const hint = source === "npm" ? "" : " Point CHROMIUM_PATH at a Chromium that starts.";
    throw new Error(`Chromium (${source}, ${path}) did not start.${hint}`, { cause: error });
  }
}
