import { chromiumExecutable } from "./browser";

// The npm build of Chromium unpacks itself on first use, and a second process that looks while the
// first is still writing would take the half-written file for a finished one: unpack it once here,
// before the test files start in parallel.
export default async function setup() {
  await chromiumExecutable();
}
