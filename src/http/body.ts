import * as v from "valibot";
import { concatBytes } from "../shared/bytes";
import { parseUntrustedJson } from "../shared/untrusted-json";
import { badRequest, GraphError } from "./errors";

/** D11: bodies over 64 KiB are refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

export const bodyTooLarge = () =>
  new GraphError(413, "RequestEntityTooLarge", `The request body is larger than ${MAX_BODY_BYTES} bytes.`);

/**
 * Reads the body as text, refusing it as soon as it passes the limit, so a
 * huge upload is never held in memory whole. (A body declared too large is
 * refused before this, by the request limits.)
 */
async function readLimitedText(request: Request): Promise<string> {
  if (!request.body) return "";
  // A body with a declared length within the limit is read at once: the runtime
  // holds it to that length, and this is the common case (cheaper than a reader).
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  const bytes =
    declared <= MAX_BODY_BYTES ? new Uint8Array(await request.arrayBuffer()) : await readStreamed(request.body);
  if (bytes.byteLength > MAX_BODY_BYTES) throw bodyTooLarge();
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badRequest("The request body is not valid UTF-8.");
  }
}

/** A body of unknown length (chunked), read until it passes the limit. */
async function readStreamed(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      throw bodyTooLarge();
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/**
 * D11: `@odata.type` and other annotations are ignored at every level. Its
 * input comes from parseUntrustedJson, so the recursion is at most 64 deep.
 */
function withoutAnnotations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutAnnotations);
  if (value === null || typeof value !== "object") return value;
  const result: Record<string, unknown> = Object.create(null);
  for (const [key, inner] of Object.entries(value)) {
    if (!key.includes("@")) result[key] = withoutAnnotations(inner);
  }
  return result;
}

function pathOf(issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? []).map((item) => String(item.key)).join(".");
}

/** Turns valibot's first issue into a sentence that names the parameter. */
export function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = pathOf(issue);
  if (issue.expected === "never") return `Unknown parameter '${path}'.`;
  if (issue.received === "undefined") return `Missing required parameter '${path}'.`;
  const where = path === "" ? "The request body" : `Parameter '${path}'`;
  // Parsed objects have no prototype, which valibot reports as "null".
  const input: unknown = issue.input;
  const received =
    input !== null && typeof input === "object" ? (Array.isArray(input) ? "Array" : "Object") : issue.received;
  return `${where} has the wrong type: expected ${issue.expected}, received ${received}.`;
}

/**
 * Reads and validates a JSON action body. An empty body counts as `{}` (SDKs
 * send clearUserPreferredPresence without one). Anything invalid is a 400 that
 * names the problem; nothing has been changed at that point.
 */
export async function readJsonBody<S extends v.GenericSchema>(request: Request, schema: S): Promise<v.InferOutput<S>> {
  const contentType = request.headers.get("content-type");
  const text = await readLimitedText(request);
  // Only application/json itself, with or without parameters, as Graph: not json-seq, not other +json types,
  // and not a body without a Content-Type (an empty one is fine: SDKs send parameterless actions so).
  if (text.trim() !== "" && !/^application\/json\s*(?:;|$)/i.test(contentType ?? "")) {
    throw new GraphError(
      415,
      "UnsupportedMediaType",
      contentType === null
        ? "The request body has no Content-Type: send 'Content-Type: application/json'."
        : `Content-Type '${contentType}' is not supported: send 'application/json'.`,
    );
  }
  // D28: too deep, prototype keys and lone surrogates are refused here, for every JSON endpoint.
  const json = text.trim() === "" ? {} : parseUntrustedJson(text, "The request body");
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw badRequest("The request body must be a JSON object.");
  }
  const result = v.safeParse(schema, withoutAnnotations(json));
  if (!result.success) {
    const [first] = result.issues;
    throw badRequest(first ? describeIssue(first) : "The request body is invalid.");
  }
  return result.output;
}
