import type { Context } from "hono";
import * as v from "valibot";
import { authenticate } from "./auth";
import { readJsonBody } from "./body";
import type { AppEnv } from "./context";
import { badRequest, errorBody, GraphError } from "./errors";
import { GRAPH_JSON_CONTENT_TYPE } from "./graph-json";
import { serviceRoot } from "./service-root";

/** D22: Graph's limit on the requests of one batch. */
export const MAX_BATCH_REQUESTS = 20;

/** Sends one request of a batch through the whole app, as if it had come alone. */
export type DispatchRequest = (request: Request, c: Context<AppEnv>) => Promise<Response>;

const HeaderValue = v.union([v.string(), v.array(v.string())]);

const BatchBody = v.strictObject({
  requests: v.array(
    v.strictObject({
      id: v.string(),
      method: v.string(),
      url: v.string(),
      headers: v.nullish(v.record(v.string(), HeaderValue)),
      body: v.optional(v.unknown()),
      dependsOn: v.nullish(v.array(v.string())),
    }),
  ),
});

type BatchRequest = v.InferOutput<typeof BatchBody>["requests"][number];

interface BatchResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

// Ids are not case-sensitive (Graph's JSON batching documentation).
const key = (id: string) => id.toLowerCase();

/**
 * Checks the batch as a whole before anything runs: the count, unique ids, a
 * method, a relative url, a Content-Type for a body, and dependencies that
 * name requests of the batch without a cycle. Returns the requests in an order
 * where each comes after what it depends on.
 */
function plan(requests: BatchRequest[]): BatchRequest[] {
  if (requests.length === 0) throw badRequest("A batch must hold at least one request.");
  if (requests.length > MAX_BATCH_REQUESTS) {
    throw badRequest(`A batch may hold at most ${MAX_BATCH_REQUESTS} requests; this one holds ${requests.length}.`);
  }
  const byId = new Map<string, BatchRequest>();
  for (const request of requests) {
    if (request.id.trim() === "") throw badRequest("Every request of a batch needs a non-empty id.");
    if (byId.has(key(request.id))) {
      throw badRequest(`Request id '${request.id}' is used twice: ids must be unique in a batch, ignoring case.`);
    }
    byId.set(key(request.id), request);
    if (!/^[A-Za-z]+$/.test(request.method)) {
      throw badRequest(`Request '${request.id}' has an invalid method '${request.method}'.`);
    }
    if (/^[a-z][a-z0-9+.-]*:|^\/\//i.test(request.url.trim())) {
      throw badRequest(
        `Request '${request.id}' has the url '${request.url}': it must be relative to the version, like '/me/presence'.`,
      );
    }
    if (hasBody(request)) {
      if (!headerOf(request, "content-type")) {
        throw badRequest(`Request '${request.id}' has a body but no Content-Type header.`);
      }
      if (["GET", "HEAD"].includes(request.method.toUpperCase())) {
        throw badRequest(`Request '${request.id}' is a ${request.method.toUpperCase()} and cannot have a body.`);
      }
    }
    for (const dependency of request.dependsOn ?? []) {
      if (!requests.some((r) => key(r.id) === key(dependency))) {
        throw badRequest(`Request '${request.id}' depends on '${dependency}', which is not in the batch.`);
      }
    }
  }
  // Kahn's order: a request is placed once everything it depends on is.
  const ordered: BatchRequest[] = [];
  const placed = new Set<string>();
  while (ordered.length < requests.length) {
    const ready = requests.filter(
      (r) => !placed.has(key(r.id)) && (r.dependsOn ?? []).every((d) => placed.has(key(d))),
    );
    if (ready.length === 0) throw badRequest("The dependsOn of the batch's requests form a cycle.");
    for (const r of ready) {
      placed.add(key(r.id));
      ordered.push(r);
    }
  }
  return ordered;
}

const hasBody = (request: BatchRequest) => request.body !== undefined && request.body !== null;

function headerOf(request: BatchRequest, name: string): string | undefined {
  for (const [header, value] of Object.entries(request.headers ?? {})) {
    if (header.toLowerCase() === name) return Array.isArray(value) ? value.join(", ") : value;
  }
  return undefined;
}

/** `Content-Type`, `Retry-After`: header names as Graph writes them in a batch response. */
const headerName = (name: string) =>
  name.replace(/(^|-)([a-z])/g, (_m, dash: string, letter: string) => dash + letter.toUpperCase());

/** An answer this module gives itself (a refused nested batch, a failed dependency), in Graph's envelope. */
function refusal(id: string, error: GraphError): BatchResponse {
  const requestId = crypto.randomUUID();
  return {
    id,
    status: error.status,
    headers: { "Content-Type": GRAPH_JSON_CONTENT_TYPE, "Request-Id": requestId },
    body: errorBody(error, requestId, requestId),
  };
}

async function toBatchResponse(id: string, response: Response): Promise<BatchResponse> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name !== "content-length") headers[headerName(name)] = value;
  });
  const text = await response.text();
  const result: BatchResponse = { id, status: response.status, headers };
  if (text !== "") {
    const isJson = /^application\/json\s*(?:;|$)/i.test(response.headers.get("content-type") ?? "");
    result.body = isJson ? JSON.parse(text) : text;
  }
  return result;
}

const VERSIONED = /^(?:v1\.0|beta)(?:\/|\?|$)/i;

/** Turns one request of the batch into the Request the app would have received alone. */
function innerRequest(c: Context<AppEnv>, request: BatchRequest): Request | GraphError {
  const root = serviceRoot(c);
  const relative = request.url.trim().replace(/^\/+/, "");
  // The official JS client strips only scheme and host, sending "/v1.0/me/presence": a leading version stands.
  const target = VERSIONED.test(relative)
    ? new URL(`/${relative}`, new URL(root).origin)
    : new URL(relative, `${root}/`);
  // "../dev/token" and the like resolve outside the API: a batch reaches only the API.
  if (target.origin !== new URL(root).origin || !VERSIONED.test(target.pathname.slice(1))) {
    return badRequest(`The url '${request.url}' does not name a resource of this API.`);
  }
  const last = target.pathname.replace(/\/+$/, "").split("/").pop()?.toLowerCase();
  if (last === "$batch" || last === "%24batch") {
    return badRequest("A $batch request cannot contain another $batch request.");
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  // A socket opened inside a batch would have no client end to hand back.
  if (headers.has("upgrade")) return badRequest("A request of a batch cannot open a WebSocket.");
  // The batch's own token applies unless the request brings its own.
  const authorization = c.req.header("authorization");
  if (!headers.has("authorization") && authorization) headers.set("authorization", authorization);
  let body: string | undefined;
  if (hasBody(request)) {
    const isJson = /^application\/json\s*(?:;|$)/i.test(headers.get("content-type") ?? "");
    body = typeof request.body === "string" && !isJson ? request.body : JSON.stringify(request.body);
  }
  return new Request(target, { method: request.method.toUpperCase(), headers, body });
}

/**
 * `POST /$batch` (D22): up to 20 requests, each sent through the whole app as
 * if it had come alone, so each is authorised, validated and throttled by the
 * same rules; a 429 keeps its Retry-After in its own headers. Requests run in
 * parallel unless `dependsOn` orders them; a request whose dependency failed
 * is not run and answers 424. The batch itself needs a valid token and is not
 * counted against the caller's limits: its requests are.
 */
export async function jsonBatch(c: Context<AppEnv>, dispatch: DispatchRequest): Promise<Response> {
  c.set("caller", await authenticate(c.req.header("authorization"), c.env));
  const { requests } = await readJsonBody(c.req.raw, BatchBody);
  const ordered = plan(requests);

  const outcomes = new Map<string, Promise<BatchResponse>>();
  for (const request of ordered) {
    const dependencies = (request.dependsOn ?? []).map((d) => outcomes.get(key(d)) as Promise<BatchResponse>);
    outcomes.set(
      key(request.id),
      Promise.all(dependencies).then(async (done) => {
        const failed = done.find((r) => r.status < 200 || r.status >= 300);
        if (failed) {
          return refusal(
            request.id,
            new GraphError(424, "FailedDependency", `The request depends on request '${failed.id}', which failed.`),
          );
        }
        const inner = innerRequest(c, request);
        if (inner instanceof GraphError) return refusal(request.id, inner);
        return toBatchResponse(request.id, await dispatch(inner, c));
      }),
    );
  }
  const responses = await Promise.all(requests.map((r) => outcomes.get(key(r.id)) as Promise<BatchResponse>));
  return c.json({ responses });
}
