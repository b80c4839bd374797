import { existsSync } from "node:fs";
import chromiumFromNpm from "@sparticuz/chromium";
import { type Browser, chromium } from "playwright-core";

/** Debian's package, where a machine has it. */
const SYSTEM_CHROMIUM = "/usr/bin/chromium";

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
  // Unpacks the packaged build to the temporary directory on first use (about 2 s), then reuses it.
  return { path: await chromiumFromNpm.executablePath(), source: "npm" };
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
    const hint =
      source === "npm"
        ? ` If an earlier run was stopped while unpacking it, delete ${path} and run again.`
        : " Point CHROMIUM_PATH at a Chromium that starts.";
    throw new Error(`Chromium (${source}, ${path}) did not start.${hint}`, { cause: error });
  }
}
