import type { Context } from "hono";
import { InvalidInput } from "../domain/errors";
import { logError } from "../shared/log";
import type { AppEnv } from "./context";
import { loggedRoute } from "./request-log";

/** An error a client may see, rendered as the Graph error envelope (spec 4.1). */
export class GraphError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 414 | 415 | 424 | 426 | 429 | 431 | 500 | 503,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new GraphError(400, "BadRequest", message);
export const forbidden = (message: string) => new GraphError(403, "Forbidden", message);
export const notFound = (message: string) => new GraphError(404, "NotFound", message);
/** 405 with the `Allow` header naming the methods the resource does take. */
export const methodNotAllowed = (allowed: string) =>
  new GraphError(405, "MethodNotAllowed", `This resource supports only ${allowed}.`, { Allow: allowed });
export const unauthorized = (message: string) =>
  new GraphError(401, "InvalidAuthenticationToken", message, {
    "WWW-Authenticate": 'Bearer realm="graph-presence-edge", error="invalid_token"',
  });

/** `date` in innerError: ISO without offset, whole seconds, as Graph writes it. */
function graphDate(now: Date): string {
  return now.toISOString().slice(0, 19);
}

/** The Graph error envelope (spec 4.1). */
export function errorBody(error: GraphError, requestId: string, clientRequestId: string) {
  return {
    error: {
      code: error.code,
      message: error.message,
      innerError: {
        date: graphDate(new Date()),
        "request-id": requestId,
        "client-request-id": clientRequestId,
      },
    },
  };
}

export function errorResponse(c: Context<AppEnv>, error: GraphError): Response {
  return c.json(errorBody(error, c.get("requestId"), c.get("clientRequestId")), error.status, error.headers);
}

/** The one place where thrown errors become responses. */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof GraphError) return errorResponse(c, error);
  if (error instanceof InvalidInput) return errorResponse(c, badRequest(error.message));
  // Details go to the log only; the client gets a generic message.
  logError({ object: "Worker" }, "unexpected error", error, {
    requestId: c.get("requestId"),
    route: `${c.req.method} ${loggedRoute(c)}`,
  });
  return errorResponse(c, new GraphError(500, "generalException", "An unexpected error occurred. Please retry."));
}
