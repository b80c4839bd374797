import { chromiumExecutable } from "./browser";

// Unpack the npm build of Chromium (when it is the one used) once, before the test files start in
// parallel, rather than in each of them.
export default async function setup() {
  await chromiumExecutable();
}
