import type { Audience } from "../domain/model";

/** One socket's watch of one user: what its reader may see, and the sequenceNumber it has. */
export interface Watch {
  audience: Audience;
  /** Changes up to this one are not sent (the socket has them, or WAITING: not yet). */
  floor: string;
}

/** Floor of a watch whose first presence is not known yet: it sorts after every sequenceNumber. */
export const WAITING = "~";

/**
 * A hub's watches (which socket watches which user), kept in SQLite so they outlast hibernation,
 * and indexed in memory both ways, so a delivery to a user's watchers reads no rows: it runs for
 * every change of every watched user, and reading hundreds of rows each time cost more than the
 * sends. The memory is built from the table once after the hub wakes.
 */
export class HubWatches {
  private byUser: Map<string, Map<string, Watch>> | null = null;
  private bySocket: Map<string, Set<string>> | null = null;

  constructor(private readonly sql: SqlStorage) {}

  static readonly SCHEMA = `
    CREATE TABLE IF NOT EXISTS watches (
      user_id TEXT NOT NULL,
      socket_id TEXT NOT NULL,
      audience TEXT NOT NULL,
      floor TEXT NOT NULL,
      PRIMARY KEY (user_id, socket_id)
    );`;

  /** The sockets watching `userId`, with each one's watch; undefined when none does. */
  watchersOf(userId: string): ReadonlyMap<string, Watch> | undefined {
    return this.index().byUser.get(userId);
  }

  usersOf(socketId: string): ReadonlySet<string> {
    return this.index().bySocket.get(socketId) ?? new Set();
  }

  isWatched(userId: string): boolean {
    return (this.index().byUser.get(userId)?.size ?? 0) > 0;
  }

  add(userId: string, socketId: string, watch: Watch): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO watches (user_id, socket_id, audience, floor) VALUES (?, ?, ?, ?)",
      userId,
      socketId,
      watch.audience,
      watch.floor,
    );
    const { byUser, bySocket } = this.index();
    let watchers = byUser.get(userId);
    if (!watchers) {
      watchers = new Map();
      byUser.set(userId, watchers);
    }
    watchers.set(socketId, { ...watch });
    let users = bySocket.get(socketId);
    if (!users) {
      users = new Set();
      bySocket.set(socketId, users);
    }
    users.add(userId);
  }

  /** Sets a watch's floor; false when the watch is gone (the socket closed meanwhile). */
  setFloor(userId: string, socketId: string, floor: string): boolean {
    const watch = this.index().byUser.get(userId)?.get(socketId);
    if (!watch) return false;
    this.sql.exec("UPDATE watches SET floor = ? WHERE user_id = ? AND socket_id = ?", floor, userId, socketId);
    watch.floor = floor;
    return true;
  }

  remove(userId: string, socketId: string): void {
    this.sql.exec("DELETE FROM watches WHERE user_id = ? AND socket_id = ?", userId, socketId);
    const { byUser, bySocket } = this.index();
    const watchers = byUser.get(userId);
    watchers?.delete(socketId);
    if (watchers?.size === 0) byUser.delete(userId);
    const users = bySocket.get(socketId);
    users?.delete(userId);
    if (users?.size === 0) bySocket.delete(socketId);
  }

  /** Removes every watch of a socket; returns the users it watched. */
  removeSocket(socketId: string): string[] {
    const users = [...this.usersOf(socketId)];
    for (const userId of users) this.remove(userId, socketId);
    return users;
  }

  /** After the hub deleted its storage: nothing is known until the table is made again. */
  forget(): void {
    this.byUser = null;
    this.bySocket = null;
  }

  private index() {
    if (!this.byUser || !this.bySocket) {
      this.byUser = new Map();
      this.bySocket = new Map();
      const rows = this.sql
        .exec<{ user_id: string; socket_id: string; audience: string; floor: string }>("SELECT * FROM watches")
        .toArray();
      for (const row of rows) {
        let watchers = this.byUser.get(row.user_id);
        if (!watchers) {
          watchers = new Map();
          this.byUser.set(row.user_id, watchers);
        }
        watchers.set(row.socket_id, { audience: row.audience as Audience, floor: row.floor });
        let users = this.bySocket.get(row.socket_id);
        if (!users) {
          users = new Set();
          this.bySocket.set(row.socket_id, users);
        }
        users.add(row.user_id);
      }
    }
    return { byUser: this.byUser, bySocket: this.bySocket };
  }
}
