#!/usr/bin/env node
// Fails when a relative link in the project's markdown (README.md, DESIGN.md, docs/) points at a
// file that does not exist, or at a heading that file does not have. Part of `npm run lint`.
// Links to other sites are not followed: this machine, and CI, may have no network.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const files = ["README.md", "DESIGN.md", ...readdirSync("docs").map((name) => join("docs", name))].filter((f) =>
  f.endsWith(".md"),
);

const withoutFencedBlocks = (text) => text.replace(/^```[\s\S]*?^```/gm, "");
/** Markdown outside fenced blocks and inline code, where links are links. */
const prose = (text) => withoutFencedBlocks(text).replace(/`[^`\n]*`/g, "");

/** The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens. */
function anchors(file) {
  const seen = new Map();
  const found = new Set();
  for (const [, heading] of withoutFencedBlocks(readFileSync(file, "utf8")).matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

function slug(heading) {
  return heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const problems = [];
for (const file of files) {
  const text = prose(readFileSync(file, "utf8"));
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [path, anchor] = target.split("#");
    const resolved = path ? normalize(join(dirname(file), path)) : file;
    if (!existsSync(resolved)) {
      problems.push(`${file}: ${target}: no file ${resolved}`);
    } else if (anchor !== undefined && resolved.endsWith(".md") && !anchors(resolved).has(anchor)) {
      problems.push(`${file}: ${target}: ${resolved} has no heading #${anchor}`);
    }
  }
}

if (problems.length > 0) {
  console.error(`Broken links:\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`Links: every relative link in ${files.length} markdown files resolves.`);
