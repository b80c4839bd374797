import { type Context, Hono } from "hono";
import { SignJWT } from "jose";
import * as v from "valibot";
import { readConfig } from "../config";
import DEV_IDENTITY from "../dev/identity.json";
import { readJsonBody } from "../http/body";
import type { AppEnv } from "../http/context";
import { methodNotAllowed } from "../http/errors";
import { parseUserId } from "../http/ids";

/** What the presence board needs: read anyone, change and watch one's own presence, mailbox settings. */
const DEV_TOKEN_SCOPES = "Presence.Read Presence.Read.All Presence.ReadWrite MailboxSettings.ReadWrite";
const DEV_TOKEN_SECONDS = 3600;

const DevTokenBody = v.strictObject({ userId: v.nullish(v.string()) });

/**
 * The dev token endpoint exists only in local development: `DEV_MODE` is "true" (set in
 * .dev.vars, never in wrangler.toml) and the local HS256 secret is configured. Anywhere else
 * it is the same 404 as any unknown route.
 */
function devTokenSecret(c: Context<AppEnv>): string | null {
  const { devTokens, hs256Secret } = readConfig(c.env);
  return devTokens && hs256Secret ? hs256Secret : null;
}

export const devRoutes = new Hono<AppEnv>({ strict: false });

/**
 * `POST /dev/token` with `{"userId": "<guid>"}` (optional; the dev user by default): a
 * delegated token for that user in the dev tenant, as `npm run token` mints, answered in
 * the shape of an OAuth token response.
 */
devRoutes.post("/token", async (c) => {
  const secret = devTokenSecret(c);
  if (!secret) return c.notFound();
  const body = await readJsonBody(c.req.raw, DevTokenBody);
  const userId = parseUserId(body.userId ?? DEV_IDENTITY.user);
  const accessToken = await new SignJWT({
    tid: DEV_IDENTITY.tenant,
    oid: userId,
    appid: DEV_IDENTITY.app,
    scp: DEV_TOKEN_SCOPES,
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(`${DEV_TOKEN_SECONDS}s`)
    .sign(new TextEncoder().encode(secret));
  return c.json({
    token_type: "Bearer",
    access_token: accessToken,
    expires_in: DEV_TOKEN_SECONDS,
    scope: DEV_TOKEN_SCOPES,
  });
});

devRoutes.all("/token", (c) => {
  if (!devTokenSecret(c)) return c.notFound();
  throw methodNotAllowed("POST");
});

export const boardRoutes = new Hono<AppEnv>({ strict: false });

/**
 * `GET /board/settings`: what the presence board needs to know on load, here and in any
 * deployment alike, so it never has to probe a route that may answer an error (a browser logs
 * every error answer in red): whether `POST /dev/token` exists.
 */
boardRoutes.get("/settings", (c) => c.json({ devTokens: devTokenSecret(c) !== null }));
