import { type Context, Hono } from "hono";
import * as v from "valibot";
import { isGuid } from "../domain/ids";
import { graphDateTimeOffset } from "../domain/subscriptions";
import { readJsonBody } from "../http/body";
import type { AppEnv } from "../http/context";
import { badRequest, methodNotAllowed, notFound } from "../http/errors";
import { requireOperator } from "../http/operator";
import { replayDeadLetters } from "../notifications/dead-letters";
import { DEAD_LETTER_DAYS, DEAD_LETTERS_PER_PAGE } from "../objects/dead-letter-store";
import { subscriptionRegistryStub } from "../objects/names";

type Ctx = Context<AppEnv>;

const KEEP_MS = DEAD_LETTER_DAYS * 24 * 60 * 60_000;
const ReplayBody = v.strictObject({ subscriptionId: v.string() });

/**
 * The operator's routes (docs/operations.md, "Dead letters"): the notifications that could not be
 * delivered, per tenant and application (D31), listed and sent again. Every path checks the
 * operator token first (http/operator.ts); without OPERATOR_TOKEN they are a plain 404.
 */
export const operationsRoutes = new Hono<AppEnv>({ strict: false });

operationsRoutes.use("*", async (c, next) => {
  await requireOperator(c);
  await next();
});

function guidParam(c: Ctx, name: string, what: string): string {
  const value = c.req.param(name) ?? "";
  if (!isGuid(value)) throw badRequest(`'${value}' is not a valid ${what} id (a GUID).`);
  return value.toLowerCase();
}

function subscriptionIdOf(value: string | undefined): string | null {
  if (value === undefined || value === "") return null;
  if (!isGuid(value)) throw badRequest(`'${value}' is not a valid subscription id (a GUID).`);
  return value.toLowerCase();
}

/**
 * `GET /ops/deadLetters/{tenantId}/{appId}[?subscriptionId=…]`: the application's dead letters,
 * oldest first, a page at a time (`@odata.nextLink`), each with the notification it kept.
 */
operationsRoutes.get("/deadLetters/:tenantId/:appId", async (c) => {
  const tenantId = guidParam(c, "tenantId", "tenant");
  const appId = guidParam(c, "appId", "application");
  const subscriptionId = subscriptionIdOf(c.req.query("subscriptionId"));
  const afterText = c.req.query("after") ?? "0";
  if (!/^\d{1,15}$/.test(afterText)) throw badRequest(`'after' must be a letter id, not '${afterText}'.`);
  const letters = await c.env.DEAD_LETTERS.getByName(`${tenantId}:${appId}`).list(subscriptionId, Number(afterText));
  const body: Record<string, unknown> = {
    value: letters.map((l) => ({
      id: l.id,
      subscriptionId: l.subscriptionId,
      kind: l.job.kind,
      reason: l.reason,
      lastStatus: l.lastStatus,
      attempts: l.attempts,
      firstAttemptDateTime: graphDateTimeOffset(l.job.firstAttemptAt),
      deadLetteredDateTime: graphDateTimeOffset(l.keptAt),
      expirationDateTime: graphDateTimeOffset(l.keptAt + KEEP_MS),
      notification: l.job,
    })),
  };
  const last = letters.at(-1);
  if (last && letters.length === DEAD_LETTERS_PER_PAGE) {
    const next = new URL(c.req.url);
    next.searchParams.set("after", String(last.id));
    body["@odata.nextLink"] = next.toString();
  }
  return c.json(body);
});

/**
 * `POST /ops/deadLetters/{tenantId}/{appId}/replay` with `{"subscriptionId": "…"}`: sends the
 * subscription's dead letters again (a page per call; `more` says whether to call again). A
 * subscription that no longer exists would send nothing: 404, and its letters stay.
 */
operationsRoutes.post("/deadLetters/:tenantId/:appId/replay", async (c) => {
  const tenantId = guidParam(c, "tenantId", "tenant");
  const appId = guidParam(c, "appId", "application");
  const subscriptionId = subscriptionIdOf((await readJsonBody(c.req.raw, ReplayBody)).subscriptionId);
  if (!subscriptionId) throw badRequest("Name the subscription whose dead letters to send: 'subscriptionId'.");
  if (!(await subscriptionRegistryStub(c.env, tenantId, appId).get(subscriptionId))) {
    throw notFound(
      `No subscription '${subscriptionId}' exists for this application: its dead letters stay until they expire.`,
    );
  }
  return c.json(await replayDeadLetters(c.env, tenantId, appId, subscriptionId));
});

operationsRoutes.all("/deadLetters/:tenantId/:appId", () => {
  throw methodNotAllowed("GET");
});
operationsRoutes.all("/deadLetters/:tenantId/:appId/replay", () => {
  throw methodNotAllowed("POST");
});
