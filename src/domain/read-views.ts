import { type ChangeRecord, fnv1a } from "./fanout";
import type { Audience, PresenceView } from "./model";

// Reads near the reader (D30, DESIGN.md "Reads near the reader"): the rules of a regional read
// view as plain functions. The objects that carry them out are ReadView (one per tenant, region
// and shard of users), UserPresence (which registers views with its relays and answers their
// first read) and the read routes (routes/reads.ts).

/**
 * A user's presence as a read view holds it: both audiences' views, the sequenceNumber they carry,
 * and until when they stay right without a change.
 */
export interface PresenceSnapshot {
  sequenceNumber: string;
  /** When the presence last changed (epoch ms); null for a user nobody has written. */
  changedAt: number | null;
  /** The next instant the presence may change on its own (a fade, an expiry, midnight); null: none. */
  validUntil: number | null;
  views: Record<Audience, PresenceView>;
  /**
   * Whether the user has been written (D3). A view registers with written users only, so reading
   * strangers creates nothing anywhere; it holds an unwritten user for its lease alone.
   */
  written: boolean;
}

/** What a view holds of one user. */
export interface ViewEntry {
  snapshot: PresenceSnapshot;
  /**
   * The last instant the view knows the snapshot was the newest: when the user's object answered
   * (as of the call's start), or when the change the relays delivered was made.
   */
  heardAt: number;
  /** The last read of the user here: a view lets go of users nobody read for a while. */
  readAt: number;
  /** Whether the user's relays send this view the user's changes. */
  registered: boolean;
}

/** D30: each user is held by one view per region, the one of its shard. */
export function viewShardOf(userId: string, shards: number): number {
  return fnv1a(userId) % shards;
}

/**
 * Whether `entry` may answer a read at `now` (D30): within its lease of the last word from the
 * user, and before the next instant its presence may change on its own (a fade, an expiry, local
 * midnight), so time-driven changes show on time whether or not the view heard of them.
 */
export function isFresh(entry: ViewEntry, now: number, leaseMs: number): boolean {
  const { validUntil } = entry.snapshot;
  return now < entry.heardAt + leaseMs && (validUntil === null || now < validUntil);
}

/**
 * Whether a read of `entry` at `now` should renew it in the background: it is past half its
 * lease, so a user read steadily never waits for the user's object.
 */
export function wantsRenewal(entry: ViewEntry, now: number, leaseMs: number): boolean {
  return now >= entry.heardAt + leaseMs / 2;
}

/**
 * The entry after hearing `snapshot` as of `heardAt`. Monotonic (D30): an older sequenceNumber
 * than the one held changes nothing (an answer from the user's object overtaken by the relays).
 */
export function heard(
  entry: ViewEntry | undefined,
  snapshot: PresenceSnapshot,
  heardAt: number,
  now: number,
): ViewEntry {
  if (!entry) return { snapshot, heardAt, readAt: now, registered: false };
  const newer = snapshot.sequenceNumber > entry.snapshot.sequenceNumber;
  const same = snapshot.sequenceNumber === entry.snapshot.sequenceNumber;
  return {
    ...entry,
    // Of one version, the later answer knows the later deadline (a settle at home moved it).
    snapshot: newer || same ? snapshot : entry.snapshot,
    heardAt: newer || same ? Math.max(entry.heardAt, heardAt) : entry.heardAt,
  };
}

/** A change the relays delivered, as a snapshot (records from before read views carry no deadline). */
export function snapshotOfChange(change: ChangeRecord): PresenceSnapshot {
  return {
    sequenceNumber: change.sequenceNumber,
    changedAt: change.changedAt,
    validUntil: change.validUntil === undefined ? change.changedAt : change.validUntil,
    views: change.views,
    written: true,
  };
}
