import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chromiumExecutable } from "./browser";

// Which Chromium the board test drives: a fresh clone must not need a system package.

const scratch = mkdtempSync(join(tmpdir(), "chromium-choice-"));
const present = join(scratch, "chromium");
writeFileSync(present, "");
const absent = join(scratch, "no-such-chromium");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the end-to-end test's Chromium", () => {
  it("is CHROMIUM_PATH when set, even with a system one present", async () => {
    expect(await chromiumExecutable({ CHROMIUM_PATH: present }, "/bin/sh")).toEqual({
      path: present,
      source: "CHROMIUM_PATH",
    });
  });

  it("refuses a CHROMIUM_PATH that names nothing, rather than silently using another", async () => {
    await expect(chromiumExecutable({ CHROMIUM_PATH: absent }, present)).rejects.toThrow(absent);
  });

  it("is the system's when there is one", async () => {
    expect(await chromiumExecutable({}, present)).toEqual({ path: present, source: "system" });
  });

  it("is the one npm installed when the machine has none, unpacked and executable", async () => {
    const { path, source } = await chromiumExecutable({}, absent);
    expect(source).toBe("npm");
    expect(() => accessSync(path, constants.X_OK)).not.toThrow();
  }, 60_000);
});
