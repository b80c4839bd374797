import type { Context } from "hono";
import { isGuid } from "../domain/ids";
import type { PresenceView } from "../domain/model";
import { GetPresencesByUserIdBody } from "../domain/schemas";
import { readJsonBody } from "../http/body";
import { requireCaller } from "../http/caller";
import type { AppEnv } from "../http/context";
import { badRequest } from "../http/errors";
import { assertCanReadMany } from "../http/permissions";
import { selectedProperties } from "../http/query-options";
import { serviceRoot } from "../http/service-root";
import { presenceResource } from "./presence";
import { readPresences } from "./reads";

/** Spec 1.3: at most 650 ids per call. */
export const MAX_IDS_PER_BATCH = 650;

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
  // Through the region's read views: one call per shard of users the ids touch (D30).
  const views = await readPresences(c, caller, unique);
  const value = unique.map((userId, i) => presenceResource(undefined, userId, views[i] as PresenceView, select));
  return c.json({ "@odata.context": `${serviceRoot(c)}/$metadata#Collection(microsoft.graph.presence)`, value });
}
