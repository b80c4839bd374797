import { InvalidInput } from "../domain/errors";

/** D28: JSON from outside nests at most this deep (a top-level object or array is level 1). */
export const MAX_JSON_DEPTH = 64;

/**
 * Keys that reach an object's prototype: assigned with `obj[key] = ...` (as any
 * copy does), `__proto__` replaces the prototype, and validation then reads the
 * fields the sender put there as if they had been sent (D28).
 */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Matches only an unpaired surrogate: with the `u` flag a proper pair is one code point. */
const LONE_SURROGATE = /\p{Surrogate}/u;

type Path = readonly (string | number)[];

/**
 * Parses JSON text that came from outside (a request body, a socket frame).
 * Throws InvalidInput, saying what is wrong and where, for text that is not
 * JSON, nesting deeper than MAX_JSON_DEPTH, a key `__proto__`, `constructor`
 * or `prototype`, or a string or key that is not well-formed Unicode (a lone
 * surrogate: SQLite and the JSON encoder each store it their own way, so it
 * read back differently after a restart). Objects come back without a
 * prototype, so nothing inherited can ever be read as input.
 *
 * `subject` starts each message: "The request body", "The frame".
 */
export function parseUntrustedJson(text: string, subject = "The JSON text"): unknown {
  let parsed: unknown;
  try {
    // V8's JSON.parse does not recurse, so any depth parses; the walk below is what must stay shallow.
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidInput(`${subject} is not valid JSON.`);
  }
  return harden(parsed, [], subject);
}

/** Checks and copies one value; recursion stops at MAX_JSON_DEPTH, so the sender cannot deepen the stack. */
function harden(value: unknown, path: Path, subject: string): unknown {
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw notUnicode(subject, path);
    return value;
  }
  if (value === null || typeof value !== "object") return value;
  if (path.length >= MAX_JSON_DEPTH) {
    throw new InvalidInput(`${subject} is nested deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  if (Array.isArray(value)) return value.map((item, index) => harden(item, [...path, index], subject));
  const copy: Record<string, unknown> = Object.create(null);
  for (const [key, inner] of Object.entries(value)) {
    if (PROTOTYPE_KEYS.has(key)) {
      throw new InvalidInput(`${subject} has the key '${key}'${where(path)}, which is not allowed.`);
    }
    if (LONE_SURROGATE.test(key)) throw notUnicode(subject, path, "a key");
    copy[key] = harden(inner, [...path, key], subject);
  }
  return copy;
}

const where = (path: Path) => (path.length === 0 ? "" : ` at ${path.join(".")}`);

function notUnicode(subject: string, path: Path, what = "text"): InvalidInput {
  const place = path.length === 0 && what === "text" ? " at the top level" : where(path);
  return new InvalidInput(`${subject} has ${what} that is not well-formed Unicode (a lone surrogate)${place}.`);
}
