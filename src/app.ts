import { type Context, Hono } from "hono";
import { readConfig } from "./config";
import type { AppEnv } from "./http/context";
import { errorResponse, handleError, notFound } from "./http/errors";
import { everyRequest } from "./http/every-request";
import { JWKS_PATH, validationTokenJwks } from "./notifications/validation-tokens";
import { boardRoutes, devRoutes } from "./routes/dev";
import { apiRoutes, canonicalPathOf, registerApiRoutes } from "./routes/index";
import { operationsRoutes } from "./routes/operations";

/** The execution context, where the runtime gives one (tests may call `fetch` without it). */
function executionCtxOf(c: Context<AppEnv>): Context<AppEnv>["executionCtx"] | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

/** The Worker's HTTP surface: Graph's presence API, served identically under /v1.0 and /beta (D19). */
export function buildApp() {
  // A request of a JSON batch goes through this same app, so every rule of a single request applies (D22).
  const routes = apiRoutes(async (request, c) => app.fetch(request, c.env, executionCtxOf(c)));

  const app = new Hono<AppEnv>({ getPath: canonicalPathOf(routes) });
  // Request ids, the log line, CORS, size limits and Graph's JSON type (http/every-request.ts).
  app.use("*", everyRequest);
  // Public keys that verify the validationTokens of rich notifications.
  app.get(JWKS_PATH, async (c) => c.json(await validationTokenJwks(readConfig(c.env).signingKey)));
  // Local development only (DEV_MODE): tokens for the presence board. Elsewhere a plain 404.
  app.route("/dev", devRoutes);
  // What the presence board needs to know on load (whether dev tokens exist), in every deployment.
  app.route("/board", boardRoutes);
  // The operator's dead letters (D31), with OPERATOR_TOKEN only. Elsewhere a plain 404.
  app.route("/ops", operationsRoutes);
  registerApiRoutes(app, routes, "/v1.0");
  registerApiRoutes(app, routes, "/beta");
  app.notFound((c) => errorResponse(c, notFound(`No resource at '${new URL(c.req.url).pathname}'.`)));
  app.onError(handleError);
  return app;
}
