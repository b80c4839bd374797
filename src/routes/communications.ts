import type { Context } from "hono";
import { isGuid } from "../domain/ids";
import { GetPresencesByUserIdBody } from "../domain/schemas";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest } from "../http/errors";
import { assertCanReadMany, audienceFor } from "../http/permissions";
import { selectedProperties } from "../http/query-options";
import { serviceRoot } from "../http/service-root";
import { userPresenceStub } from "../objects/names";
import { mapWithConcurrency } from "../shared/map-with-concurrency";
import { presenceResource } from "./presence";

/** Spec 1.3: at most 650 ids per call. */
export const MAX_IDS_PER_BATCH = 650;
// Users are read in parallel, but not all 650 at once: enough to hide each
// object's latency without a burst of hundreds of simultaneous subrequests.
const BATCH_READ_CONCURRENCY = 64;

/** `POST /communications/getPresencesByUserId` (spec 1.3); `$select` projects each presence (D21). */
export async function getPresencesByUserId(c: Context<AppEnv>) {
  const caller = await requireCaller(c, "read");
  assertCanReadMany(caller);
  const { ids } = await readJsonBody(c.req.raw, GetPresencesByUserIdBody);
  const select = selectedProperties(c);
  if (ids.length === 0 || ids.length > MAX_IDS_PER_BATCH) {
    throw badRequest(`ids must hold between 1 and ${MAX_IDS_PER_BATCH} user ids; it holds ${ids.length}.`);
  }
  const invalid = ids.find((id) => !isGuid(id));
  if (invalid !== undefined) {
    throw badRequest(`'${invalid}' in ids is not a valid user id: use the user's Entra object id (a GUID).`);
  }
  // Duplicates are returned once, in the order of their first appearance.
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
  const value = await mapWithConcurrency(unique, BATCH_READ_CONCURRENCY, async (userId) => {
    const view = await userPresenceStub(c.env, caller.tenantId, userId).getPresence(audienceFor(caller, userId));
    return presenceResource(undefined, userId, view, select);
  });
  return c.json({ "@odata.context": `${serviceRoot(c)}/$metadata#Collection(microsoft.graph.presence)`, value });
}
