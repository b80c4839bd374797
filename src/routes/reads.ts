import type { Context } from "hono";
import { readConfig } from "../config";
import type { Audience, PresenceView } from "../domain/model";
import { type PresenceSnapshot, viewShardOf } from "../domain/read-views";
import type { Caller } from "../http/auth";
import type { AppEnv } from "../http/context";
import { audienceFor } from "../http/permissions";
import { crossRegionDelay, regionOf } from "../http/region";
import { readViewObjectName, readViewStub, userPresenceStub } from "../objects/names";
import type { WriteReceipt } from "../objects/user-presence";
import { logError } from "../shared/log";
import { mapWithConcurrency } from "../shared/map-with-concurrency";

// Reads near the reader (D30, DESIGN.md "Reads near the reader"): a read goes to the read views
// of the caller's region, one call per shard of users it names, and only what a view could not
// answer goes to the users' own objects. Writes hand their change to the writer's region's view.

type Ctx = Context<AppEnv>;

const SOURCE = { object: "reads" };
// Users asked of their own objects at once: enough to hide each object's latency without a
// burst of hundreds of simultaneous subrequests.
const HOME_READ_CONCURRENCY = 64;

/** Names the views of the caller's region: the region and the shard count are read once per request. */
function viewsOfRegion(c: Ctx, tenantId: string): { region: string; viewOf: (userId: string) => string } {
  const region = regionOf(c.req.raw, c.env);
  const shards = readConfig(c.env).readViewShards;
  return { region, viewOf: (userId) => readViewObjectName(tenantId, region, viewShardOf(userId, shards)) };
}

/**
 * The presence of each of `userIds` (distinct, lower-case) as the caller may see it, in order:
 * from the region's views, grouped by shard (a 650-id batch is at most one call per shard), and
 * from the users' objects where a view failed. Permissions were checked by the route; each
 * user's audience is the caller's, exactly as without views.
 */
export async function readPresences(c: Ctx, caller: Caller, userIds: readonly string[]): Promise<PresenceView[]> {
  const audiences = userIds.map((userId) => audienceFor(caller, userId));
  const answers: (PresenceView | null)[] = userIds.map(() => null);
  const { region, viewOf } = viewsOfRegion(c, caller.tenantId);
  const byView = new Map<string, number[]>();
  userIds.forEach((userId, i) => {
    const view = viewOf(userId);
    const indexes = byView.get(view);
    if (indexes) indexes.push(i);
    else byView.set(view, [i]);
  });
  await Promise.all(
    [...byView].map(async ([view, indexes]) => {
      try {
        const views = await readViewStub(c.env, view).read(
          indexes.map((i) => userIds[i] as string),
          indexes.map((i) => audiences[i] as Audience),
        );
        indexes.forEach((i, k) => {
          answers[i] = views[k] ?? null;
        });
      } catch (error) {
        // A view's trouble is never the reader's error: its users are read at home below.
        logError(SOURCE, "read view", error, { view });
      }
    }),
  );
  const missing = answers.flatMap((answer, i) => (answer === null ? [i] : []));
  if (missing.length > 0) {
    const readAtHome = new Map<string, { userIds: string[]; snapshots: PresenceSnapshot[] }>();
    await mapWithConcurrency(missing, HOME_READ_CONCURRENCY, async (i) => {
      const userId = userIds[i] as string;
      const view = viewOf(userId);
      await crossRegionDelay(c.env, region);
      // The call the view would have made: it registers the view with a written user, which the
      // relays undo at their next delivery if the view does not hold the user.
      const snapshot = await userPresenceStub(c.env, caller.tenantId, userId).readForView(view);
      answers[i] = snapshot.views[audiences[i] as Audience];
      const handBack = readAtHome.get(view) ?? { userIds: [], snapshots: [] };
      handBack.userIds.push(userId);
      handBack.snapshots.push(snapshot);
      readAtHome.set(view, handBack);
    });
    // Monotonic reads (D30): the answers may be newer than what the views hold, and a view back
    // before the relays reach it would answer older. Handed over before the reader has them, one
    // call per view; a failure is logged, not the reader's error.
    await Promise.all(
      [...readAtHome].map(([view, { userIds: users, snapshots }]) =>
        succeeds(() => readViewStub(c.env, view).accept(users, snapshots), "read view accept", view),
      ),
    );
  }
  return answers as PresenceView[];
}

/**
 * Read-your-writes (D30): hands the change a write made to the writer's region's view, when that
 * view may hold the user, before the writer has its answer, so the writer's next read there shows
 * it. One call in the region; other regions hear from the relays, and the writer waits for none
 * of them. A failure is logged, not the writer's error: the write itself is done.
 */
export async function handOnWrite(c: Ctx, caller: Caller, userId: string, receipt: WriteReceipt | null) {
  if (!receipt) return;
  const view = viewsOfRegion(c, caller.tenantId).viewOf(userId);
  if (!receipt.created && !receipt.views.includes(view)) return;
  const stub = readViewStub(c.env, view);
  const accept = () => stub.accept([userId], [receipt.snapshot]);
  // A view that missed the change would answer the writer its older copy until the relays reach
  // it or its lease ends. A second try gets past a passing overload and keeps the view warm;
  // failing that, the view lets the user go, a call that carries nothing of the change to refuse,
  // so the writer's next read goes to the user's object. Should even that fail, the view is
  // unreachable and the lease bounds what it may answer.
  if (await succeeds(accept, "read view accept", view)) return;
  if (await succeeds(accept, "read view accept", view)) return;
  await succeeds(() => stub.forget(userId), "read view forget", view);
}

/** Whether `call` succeeded; a failure is logged, never thrown (a view's trouble is nobody's error). */
async function succeeds(call: () => Promise<void>, what: string, view: string): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (error) {
    logError(SOURCE, what, error, { view });
    return false;
  }
}
