import { DurableObject } from "cloudflare:workers";
import { readConfig } from "../config";
import type { ChangeRecord } from "../domain/fanout";
import type { Audience, PresenceView } from "../domain/model";
import {
  heard,
  isFresh,
  type PresenceSnapshot,
  snapshotOfChange,
  type ViewEntry,
  wantsRenewal,
} from "../domain/read-views";
import type { Env } from "../env";
import { crossRegionDelay } from "../http/region";
import { logError, objectSource } from "../shared/log";
import { mapWithConcurrency } from "../shared/map-with-concurrency";
import { parseReadViewName, userPresenceStub } from "./names";

/** Users asked of their objects at once, when a batch finds many a view does not hold. */
const ASK_CONCURRENCY = 64;
/** Renewals in the background at once: reads come first, renewals trickle beside them. */
const RENEW_CONCURRENCY = 8;

/**
 * A tenant's read view of one shard of its users in one region, named `{tenantId}:{region}:{shard}`
 * (D30, DESIGN.md "Reads near the reader"). It holds the newest presence of the users read from
 * the region, both audiences' views with the instant until which they are right, and answers
 * reads from memory. Its first read of a written user registers it with the user's relays (one
 * call to the user's object, which answers that read too); from then on the relays deliver it
 * every change, as they do a watch hub. The writer's own Worker hands it the writer's change
 * (read-your-writes). Past its lease without word, or past the next deadline, a user is asked of
 * its object again. A user nobody read for a while is let go (unregistered).
 *
 * Memory only: a view that restarts starts empty and asks again, and the relays forget it at
 * their next delivery. It stores nothing but its alarm, and none while it holds nobody (D29).
 */
export class ReadView extends DurableObject<Env> {
  private readonly entries = new Map<string, ViewEntry>();
  /** Asks of a user's object in flight: concurrent reads of a user share one. */
  private readonly asking = new Map<string, Promise<ViewEntry | null>>();
  /** Releases in flight: an ask of the same user waits for its release, so the two never cross. */
  private readonly releasing = new Map<string, Promise<void>>();
  /** Users to renew in the background, in order, and how many renewals are under way. */
  private readonly renewals = new Set<string>();
  private renewing = 0;
  /** The alarm as this object set it since it started; null: none set. */
  private alarmAt: number | null = null;

  private get name(): string {
    return this.ctx.id.name ?? "";
  }

  private get source() {
    return objectSource("ReadView", this.ctx);
  }

  // --- reads ---------------------------------------------------------------------------

  /**
   * Each user's presence as its audience may see it, in the order asked. A user the view does not
   * hold fresh is asked of its object first; null where that failed, for the caller to ask the
   * user's object itself (a view's trouble is never the reader's error).
   */
  async read(userIds: string[], audiences: Audience[]): Promise<(PresenceView | null)[]> {
    const now = Date.now();
    const { readViewLeaseMs: lease } = readConfig(this.env);
    const answers: (PresenceView | null)[] = [];
    const missing: number[] = [];
    userIds.forEach((userId, i) => {
      const entry = this.entries.get(userId);
      if (entry && isFresh(entry, now, lease)) {
        entry.readAt = now;
        if (wantsRenewal(entry, now, lease)) this.renewSoon(userId);
        answers.push(entry.snapshot.views[audiences[i] ?? "other"]);
      } else {
        answers.push(null);
        missing.push(i);
      }
    });
    await mapWithConcurrency(missing, ASK_CONCURRENCY, async (i) => {
      const userId = userIds[i] as string;
      const entry = await this.ask(userId);
      if (entry) {
        entry.readAt = now;
        answers[i] = entry.snapshot.views[audiences[i] ?? "other"];
      }
    });
    await this.armAlarm(now);
    return answers;
  }

  // --- word from the users --------------------------------------------------------------

  /**
   * A user's changes, oldest first, from the relay that holds this view's registration. Returns
   * false when the view no longer holds the user, so the relay forgets it for this user.
   */
  async deliver(userId: string, changes: ChangeRecord[]): Promise<boolean> {
    const entry = this.entries.get(userId);
    const last = changes.at(-1);
    // An ask in flight is registering: its user's first change may overtake its answer.
    if (!last || (!entry && !this.asking.has(userId))) return entry !== undefined;
    const next = heard(entry, snapshotOfChange(last), last.changedAt, Date.now());
    next.registered = true;
    this.entries.set(userId, next);
    return true;
  }

  /**
   * Users' presence as a Worker just saw it at home: the change a write made (read-your-writes:
   * the writer's next read in this region shows it, whatever the relays are doing), or what a
   * read that could not use this view got from the users' objects (monotonic reads: this region
   * never answers older). Only users held here are updated; any other is asked of its object at
   * its next read anyway.
   */
  async accept(userIds: string[], snapshots: PresenceSnapshot[]): Promise<void> {
    const now = Date.now();
    userIds.forEach((userId, i) => {
      const entry = this.entries.get(userId);
      const snapshot = snapshots[i];
      if (!snapshot) return;
      if (!entry) {
        // An ask under way may have been answered before this change: held from now, the change
        // answers the next read, and the older answer, when it comes, does not replace it (`heard`).
        if (this.asking.has(userId)) this.entries.set(userId, heard(undefined, snapshot, snapshot.changedAt ?? 0, now));
        return;
      }
      // A user held unwritten was just written: asked again at its next read, it registers this
      // view, so later writes know to come here.
      if (!entry.registered && snapshot.written) this.entries.delete(userId);
      else this.entries.set(userId, heard(entry, snapshot, snapshot.changedAt ?? 0, now));
    });
  }

  /**
   * The writer's Worker could not hand this view its change (read-your-writes): the user is let
   * go here, so the copy from before the write never answers the writer; its next read here asks
   * the user's object (registering this view again, if the relays forgot it meanwhile).
   */
  async forget(userId: string): Promise<void> {
    this.entries.delete(userId);
    // An ask under way may have been answered before the write: its answer is not kept (askNow),
    // and the next read asks anew rather than joining it.
    this.asking.delete(userId);
  }

  // --- letting go -----------------------------------------------------------------------

  /** Lets go of the users nobody read for READ_VIEW_IDLE_MS: their relays stop sending here. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    const { readViewIdleMs: idle } = readConfig(this.env);
    const idleUsers = [...this.entries].filter(([userId, e]) => e.readAt + idle <= now && !this.asking.has(userId));
    for (const [userId] of idleUsers) this.entries.delete(userId);
    await mapWithConcurrency(
      idleUsers.filter(([, entry]) => entry.registered),
      ASK_CONCURRENCY,
      async ([userId]) => {
        const release = this.release(userId).finally(() => this.releasing.delete(userId));
        this.releasing.set(userId, release);
        await release;
      },
    );
    await this.armAlarm(now);
  }

  // --- calls to users' objects ------------------------------------------------------------

  /**
   * Asks the user's object for the user's presence (registering this view with a written user),
   * once at a time per user: concurrent reads share the one call. Null when the call failed.
   */
  private ask(userId: string): Promise<ViewEntry | null> {
    const pending = this.asking.get(userId);
    if (pending) return pending;
    const call: Promise<ViewEntry | null> = this.askNow(userId, () => this.asking.get(userId) === call).finally(() => {
      if (this.asking.get(userId) === call) this.asking.delete(userId);
    });
    this.asking.set(userId, call);
    return call;
  }

  /** `current`: whether this ask still stands (`forget` drops one under way); only then is its answer kept. */
  private async askNow(userId: string, current: () => boolean): Promise<ViewEntry | null> {
    const { tenantId, region } = parseReadViewName(this.name);
    await this.releasing.get(userId);
    // The answer is the newest as of the call's start: its lease counts from there.
    const sentAt = Date.now();
    try {
      await crossRegionDelay(this.env, region);
      const snapshot = await userPresenceStub(this.env, tenantId, userId).readForView(this.name);
      const entry = heard(this.entries.get(userId), snapshot, sentAt, Date.now());
      entry.registered ||= snapshot.written;
      if (current()) this.entries.set(userId, entry);
      return entry;
    } catch (error) {
      logError(this.source, "read view ask", error, { userId });
      return null;
    }
  }

  /** Renews a user's entry in the background, a few at a time, so steady readers never wait for it. */
  private renewSoon(userId: string): void {
    if (this.asking.has(userId)) return;
    this.renewals.add(userId);
    while (this.renewing < RENEW_CONCURRENCY && this.renewals.size > 0) {
      const next = this.renewals.values().next().value as string;
      this.renewals.delete(next);
      this.renewing++;
      void this.ask(next).finally(() => {
        this.renewing--;
        const [following] = this.renewals;
        if (following !== undefined) this.renewSoon(following);
      });
    }
  }

  /** Unregisters this view from a user it let go of; a failure leaves the relays to forget it. */
  private async release(userId: string): Promise<void> {
    const { tenantId, region } = parseReadViewName(this.name);
    try {
      await crossRegionDelay(this.env, region);
      await userPresenceStub(this.env, tenantId, userId).releaseView(this.name);
    } catch (error) {
      // The relays drop a view that answers it no longer holds the user, at the next change.
      logError(this.source, "read view release", error, { userId });
    }
  }

  /** The alarm at the earliest instant a held user may be let go; none while nobody is held (D29). */
  private async armAlarm(now: number): Promise<void> {
    if (this.entries.size === 0) {
      if (this.alarmAt !== null) await this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
      return;
    }
    if (this.alarmAt !== null) return;
    const { readViewIdleMs: idle } = readConfig(this.env);
    let earliest = Number.POSITIVE_INFINITY;
    for (const entry of this.entries.values()) earliest = Math.min(earliest, entry.readAt + idle);
    this.alarmAt = Math.max(earliest, now + 1000);
    await this.ctx.storage.setAlarm(this.alarmAt);
  }
}
