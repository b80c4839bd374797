import type { Audience, PresenceView } from "./model";

// How a change leaves a user's object: the rules of the fan-out tree, as plain functions
// (DESIGN.md, "Fan-out"). The objects that carry them out are UserPresence (the root),
// FanoutRelay (one per user and shard) and PresenceHub (the sockets).

/**
 * Each user's watchers and subscriptions are spread over this many relays, by a hash of the
 * hub's name or the subscription's id. A change costs the user's object one call per relay
 * that holds anyone, so at most this many, whatever the audience. It is part of every
 * registration's address: changing it would strand the registrations made before.
 */
export const RELAY_SHARDS = 16;

/** At most this many changes go to a relay in one call (a backlog is sent in order, in batches). */
export const CHANGES_PER_CALL = 64;

/** A webhook job carries at most this many subscriptions of one change (queue messages stay small). */
export const SUBSCRIBERS_PER_JOB = 50;

/** One visible change of one user, as its object records it in the commit's transaction (D10, D18). */
export interface ChangeRecord {
  sequenceNumber: string;
  /** When the change happened (epoch ms). */
  changedAt: number;
  /** The presence as each audience may see it (D9). */
  views: Record<Audience, PresenceView>;
  /**
   * Until when these views stay right without another change: the next fade, expiry or local
   * midnight (epoch ms); null when nothing is due. A read view answers from them until then
   * (D30). Absent in records written before read views: taken as already due.
   */
  validUntil?: number | null;
}

/** What a hub gets of one change: the watch message each audience is sent. */
export interface WatchDelivery {
  sequenceNumber: string;
  messages: Record<Audience, string>;
}

/** FNV-1a: a fast, well-spread 32-bit hash; it only spreads load, it guards nothing. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The relay shard that holds a registration (a hub's name, a subscription's id). */
export function shardOf(key: string): number {
  return fnv1a(key) % RELAY_SHARDS;
}

/**
 * The hub of a group that a single-user socket of `userId` tries first (0 to perGroup - 1). One
 * user's watchers then gather in as few hubs as their number needs, and each change reaches them
 * through fewer relay and hub calls (with 1,000 watchers on one user, one hub instead of four).
 */
export function preferredHub(userId: string, perGroup: number): number {
  return fnv1a(userId) % perGroup;
}

/** `items` in slices of at most `size`, in order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const slices: T[][] = [];
  for (let i = 0; i < items.length; i += size) slices.push(items.slice(i, i + size));
  return slices;
}

/**
 * `{"type":"presence","presence":{...},"changedDateTime":"..."}`, the message every watcher
 * receives. `changedDateTime` is when the presence last changed (its sequenceNumber was
 * bumped), in UTC; null for a user nobody has written.
 */
export function presenceMessage(userId: string, view: PresenceView, changedAt: number | null): string {
  return JSON.stringify({
    type: "presence",
    presence: { id: userId, ...view },
    changedDateTime: changedAt === null ? null : new Date(changedAt).toISOString(),
  });
}

/** The watch messages of a change, once per audience. */
export function watchDelivery(userId: string, change: ChangeRecord): WatchDelivery {
  return {
    sequenceNumber: change.sequenceNumber,
    messages: {
      owner: presenceMessage(userId, change.views.owner, change.changedAt),
      other: presenceMessage(userId, change.views.other, change.changedAt),
    },
  };
}
