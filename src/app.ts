import { type Context, Hono } from "hono";
import { readConfig } from "./config";
import type { AppEnv } from "./http/context";
import { cors } from "./http/cors";
import { errorResponse, handleError, notFound } from "./http/errors";
import { graphJsonContentType } from "./http/graph-json";
import { requestLimits } from "./http/limits";
import { requestIds } from "./http/request-ids";
import { requestLog } from "./http/request-log";
import { JWKS_PATH, validationTokenJwks } from "./notifications/validation-tokens";
import { boardRoutes, devRoutes } from "./routes/dev";
import { apiRoutes, canonicalPathOf, registerApiRoutes } from "./routes/index";

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
  const api = new Hono<AppEnv>({ strict: false });
  registerApiRoutes(api, routes);

  const app = new Hono<AppEnv>({ getPath: canonicalPathOf(routes) });
  app.use("*", requestIds);
  app.use("*", requestLog);
  app.use("*", graphJsonContentType);
  // CORS before the limits, so that a refusal carries the headers a browser page needs to read it.
  app.use("*", cors);
  app.use("*", requestLimits);
  // Public keys that verify the validationTokens of rich notifications.
  app.get(JWKS_PATH, async (c) => c.json(await validationTokenJwks(readConfig(c.env).signingKey)));
  // Local development only (DEV_MODE): tokens for the presence board. Elsewhere a plain 404.
  app.route("/dev", devRoutes);
  // What the presence board needs to know on load (whether dev tokens exist), in every deployment.
  app.route("/board", boardRoutes);
  app.route("/v1.0", api);
  app.route("/beta", api);
  app.notFound((c) => errorResponse(c, notFound(`No resource at '${new URL(c.req.url).pathname}'.`)));
  app.onError(handleError);
  return app;
}
