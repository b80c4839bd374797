import { Hono } from "hono";
import type { AppEnv } from "./http/context";
import { cors } from "./http/cors";
import { errorResponse, handleError, notFound } from "./http/errors";
import { requestLimits } from "./http/limits";
import { requestIds } from "./http/request-ids";
import { requestLog } from "./http/request-log";
import { JWKS_PATH, validationTokenJwks } from "./notifications/validation-tokens";
import { communicationsRoutes } from "./routes/communications";
import { devRoutes } from "./routes/dev";
import { mailboxSettingsRoutes } from "./routes/mailbox-settings";
import { presenceRoutes } from "./routes/presence";
import { subscriptionRoutes } from "./routes/subscriptions";
import { watchRoutes } from "./routes/watch";

/** The Worker's HTTP surface: Graph's presence API, served identically under /v1.0 and /beta (D19). */
export function buildApp() {
  const api = new Hono<AppEnv>({ strict: false });
  // Before the presence routes: ".../presences/watch" would otherwise read as a user id.
  api.route("/", watchRoutes);
  api.route("/", presenceRoutes);
  api.route("/", communicationsRoutes);
  api.route("/", mailboxSettingsRoutes);
  api.route("/", subscriptionRoutes);

  const app = new Hono<AppEnv>({ strict: false });
  app.use("*", requestIds);
  app.use("*", requestLog);
  // CORS before the limits, so that a refusal carries the headers a browser page needs to read it.
  app.use("*", cors);
  app.use("*", requestLimits);
  // Public keys that verify the validationTokens of rich notifications.
  app.get(JWKS_PATH, async (c) => c.json(await validationTokenJwks(c.env.NOTIFICATION_SIGNING_KEY)));
  // Local development only (DEV_MODE): tokens for the presence board. Elsewhere a plain 404.
  app.route("/dev", devRoutes);
  app.route("/v1.0", api);
  app.route("/beta", api);
  app.notFound((c) => errorResponse(c, notFound(`No resource at '${new URL(c.req.url).pathname}'.`)));
  app.onError(handleError);
  return app;
}
