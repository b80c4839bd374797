import type { ChangeRecord } from "../domain/fanout";
import {
  type Activity,
  type Availability,
  DEFAULT_MAILBOX_SETTINGS,
  EMPTY_STATE,
  type MailboxSettings,
  type PresenceSession,
  type PresenceState,
  type WorkLocationLayer,
  type WorkLocationSignal,
  type WorkLocationType,
} from "../domain/model";
import { FIRST_VERSION, type Version } from "../domain/settle";

/**
 * Schema changes, applied once each and in order. SQLite-backed Durable
 * Objects do not support `PRAGMA user_version`, so applied versions are kept
 * in a table of their own.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE sessions (
     session_id TEXT PRIMARY KEY,
     availability TEXT NOT NULL,
     activity TEXT NOT NULL,
     refreshed_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE preferred_presence (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     availability TEXT NOT NULL,
     activity TEXT NOT NULL,
     set_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE status_message (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     content TEXT NOT NULL,
     published_at INTEGER NOT NULL,
     expires_at INTEGER
   );`,
  // Work-location signals (one manual slot, one automatic signal per application)
  // and the mailbox settings this service owns, kept whole as JSON.
  `CREATE TABLE work_location (
     layer TEXT NOT NULL,
     source TEXT NOT NULL,
     work_location_type TEXT NOT NULL,
     place_id TEXT,
     local_date TEXT NOT NULL,
     set_at INTEGER NOT NULL,
     PRIMARY KEY (layer, source)
   );
   CREATE TABLE mailbox_settings (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     json TEXT NOT NULL
   );`,
  // Multi-user watch sockets live in PresenceHub objects; a user object keeps
  // the hubs to notify, never the sockets themselves.
  `CREATE TABLE hub_watchers (hub_id TEXT PRIMARY KEY, audience TEXT NOT NULL);`,
  // Change-notification subscriptions that cover this user, and an outbox of
  // notification jobs written with the change itself, so a crash between the
  // change and the queue loses nothing (the alarm retries the outbox).
  `CREATE TABLE subscribers (
     subscription_id TEXT PRIMARY KEY,
     app_id TEXT NOT NULL,
     audience TEXT NOT NULL
   );
   CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, jobs TEXT NOT NULL);`,
  // The fan-out tree (DESIGN.md, "Fan-out"): watchers and subscriptions are held by the user's
  // relays, and the user's object keeps only which relay shards hold anyone, and an outbox of
  // its changes, one row per change whatever the audience, until every relay has it. The
  // tables they replace are dropped: hub registrations end with their sockets, and
  // subscriptions live at most an hour (D16), so none outlives an upgrade by much.
  `DROP TABLE hub_watchers;
   DROP TABLE subscribers;
   DROP TABLE outbox;
   CREATE TABLE relay_shards (shard INTEGER PRIMARY KEY);
   CREATE TABLE changes (sequence TEXT PRIMARY KEY, record TEXT NOT NULL);`,
  // The status message expiry's digits below the millisecond, as the caller wrote them (D28).
  `ALTER TABLE status_message ADD COLUMN expires_at_sub_ms TEXT;`,
];

/** What MIGRATIONS add up to: the tables of a user written for the first time. */
const CURRENT_SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    availability TEXT NOT NULL,
    activity TEXT NOT NULL,
    refreshed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE preferred_presence (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    availability TEXT NOT NULL,
    activity TEXT NOT NULL,
    set_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE status_message (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    content TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    expires_at INTEGER,
    expires_at_sub_ms TEXT
  );
  CREATE TABLE work_location (
    layer TEXT NOT NULL,
    source TEXT NOT NULL,
    work_location_type TEXT NOT NULL,
    place_id TEXT,
    local_date TEXT NOT NULL,
    set_at INTEGER NOT NULL,
    PRIMARY KEY (layer, source)
  );
  CREATE TABLE mailbox_settings (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), json TEXT NOT NULL);
  CREATE TABLE relay_shards (shard INTEGER PRIMARY KEY);
  CREATE TABLE changes (sequence TEXT PRIMARY KEY, record TEXT NOT NULL);`;

type SessionRow = {
  session_id: string;
  availability: string;
  activity: string;
  refreshed_at: number;
  expires_at: number;
};
type PreferredRow = { availability: string; activity: string; set_at: number; expires_at: number };
type StatusMessageRow = {
  content: string;
  published_at: number;
  expires_at: number | null;
  expires_at_sub_ms?: string | null;
};
type WorkLocationRow = {
  layer: string;
  source: string;
  work_location_type: string;
  place_id: string | null;
  local_date: string;
  set_at: number;
};

/** A user's presence as stored: the inputs the view is computed from, and its version (D10). */
export interface StoredPresence {
  state: PresenceState;
  version: Version;
}

// The version's three values, kept in the meta table.
const SEQUENCE_KEY = "sequence";
const VISIBLE_KEY = "visible";
const CHANGED_KEY = "changed";

const sameFields = <T extends object>(a: T, b: T) => (Object.keys(a) as (keyof T)[]).every((key) => a[key] === b[key]);
const signalKey = (s: WorkLocationSignal) => `${s.layer}\u0000${s.source}`;

/**
 * All SQL of one user's object. It keeps nothing in memory: the object holds
 * the one copy of the state, and hands `save` the state before and after a
 * change, which the store writes as plain upserts and deletes of the rows
 * that differ. Every method is synchronous, so calls with no `await` between
 * them commit together.
 */
export class PresenceStore {
  private schemaReady = false;

  constructor(private readonly sql: SqlStorage) {}

  /** True once anything was ever written; reads of an unwritten user must not create storage (D3). */
  exists(): boolean {
    if (this.schemaReady) return true;
    const found = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    return found.toArray().length > 0;
  }

  ensureSchema(): void {
    if (this.schemaReady) return;
    if (!this.exists()) {
      // A new user gets the schema as it is now, not every step that led to it.
      this.sql.exec(CURRENT_SCHEMA);
      this.sql.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)");
      this.sql.exec(
        `INSERT INTO schema_migrations (version) VALUES ${MIGRATIONS.map((_, i) => `(${i + 1})`).join(", ")}`,
      );
    } else {
      const applied = new Set(
        this.sql
          .exec<{ version: number }>("SELECT version FROM schema_migrations")
          .toArray()
          .map((r) => r.version),
      );
      MIGRATIONS.forEach((statement, index) => {
        const version = index + 1;
        if (applied.has(version)) return;
        this.sql.exec(statement);
        this.sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", version);
      });
    }
    this.schemaReady = true;
  }

  /** Everything stored about the user's presence; a user nobody has written has the empty state (D3). */
  load(): StoredPresence {
    if (!this.exists()) return { state: EMPTY_STATE, version: FIRST_VERSION };
    const sessions = this.sql
      .exec<SessionRow>("SELECT * FROM sessions")
      .toArray()
      .map(
        (r): PresenceSession => ({
          sessionId: r.session_id,
          availability: r.availability as Availability,
          activity: r.activity as Activity,
          refreshedAt: r.refreshed_at,
          expiresAt: r.expires_at,
        }),
      );
    const [p] = this.sql.exec<PreferredRow>("SELECT * FROM preferred_presence").toArray();
    const [m] = this.sql.exec<StatusMessageRow>("SELECT * FROM status_message").toArray();
    const workLocationSignals = this.sql
      .exec<WorkLocationRow>("SELECT * FROM work_location")
      .toArray()
      .map(
        (r): WorkLocationSignal => ({
          layer: r.layer as WorkLocationLayer,
          source: r.source,
          workLocationType: r.work_location_type as WorkLocationType,
          placeId: r.place_id,
          localDate: r.local_date,
          setAt: r.set_at,
        }),
      );
    const [settings] = this.sql.exec<{ json: string }>("SELECT json FROM mailbox_settings").toArray();
    const meta = new Map(
      this.sql
        .exec<{ key: string; value: string }>("SELECT key, value FROM meta")
        .toArray()
        .map((r) => [r.key, r.value]),
    );
    const changed = meta.get(CHANGED_KEY);
    return {
      state: {
        sessions,
        preferred: p
          ? {
              availability: p.availability as Availability,
              activity: p.activity as Activity,
              setAt: p.set_at,
              expiresAt: p.expires_at,
            }
          : null,
        statusMessage: m
          ? {
              content: m.content,
              publishedAt: m.published_at,
              expiresAt: m.expires_at,
              ...(m.expires_at_sub_ms ? { expiresAtSubMs: m.expires_at_sub_ms } : {}),
            }
          : null,
        workLocationSignals,
        mailboxSettings: settings ? (JSON.parse(settings.json) as MailboxSettings) : DEFAULT_MAILBOX_SETTINGS,
      },
      version: {
        counter: Number(meta.get(SEQUENCE_KEY) ?? 0),
        visible: meta.get(VISIBLE_KEY) ?? null,
        changedAt: changed === undefined ? null : Number(changed),
      },
    };
  }

  /** Writes the rows in which `after` differs from `before` (what the object last loaded or saved). */
  save(before: StoredPresence, after: StoredPresence): void {
    // The tables are made by the first write, not by a change that writes nothing (D3).
    const sql = {
      exec: (query: string, ...bindings: SqlStorageValue[]) => {
        this.ensureSchema();
        this.sql.exec(query, ...bindings);
      },
    };
    const was = before.state;
    const now = after.state;
    const oldSessions = new Map(was.sessions.map((s) => [s.sessionId, s]));
    for (const s of now.sessions) {
      const old = oldSessions.get(s.sessionId);
      oldSessions.delete(s.sessionId);
      if (old && sameFields(old, s)) continue;
      sql.exec(
        `INSERT INTO sessions (session_id, availability, activity, refreshed_at, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (session_id) DO UPDATE SET availability = excluded.availability, activity = excluded.activity,
           refreshed_at = excluded.refreshed_at, expires_at = excluded.expires_at`,
        s.sessionId,
        s.availability,
        s.activity,
        s.refreshedAt,
        s.expiresAt,
      );
    }
    for (const gone of oldSessions.keys()) sql.exec("DELETE FROM sessions WHERE session_id = ?", gone);

    if (was.preferred !== now.preferred) {
      const p = now.preferred;
      if (!p) sql.exec("DELETE FROM preferred_presence");
      else {
        sql.exec(
          "INSERT OR REPLACE INTO preferred_presence (singleton, availability, activity, set_at, expires_at) VALUES (1, ?, ?, ?, ?)",
          p.availability,
          p.activity,
          p.setAt,
          p.expiresAt,
        );
      }
    }

    if (was.statusMessage !== now.statusMessage) {
      const m = now.statusMessage;
      if (!m) sql.exec("DELETE FROM status_message");
      else {
        sql.exec(
          `INSERT OR REPLACE INTO status_message (singleton, content, published_at, expires_at, expires_at_sub_ms)
           VALUES (1, ?, ?, ?, ?)`,
          m.content,
          m.publishedAt,
          m.expiresAt,
          m.expiresAtSubMs ?? null,
        );
      }
    }

    const oldSignals = new Map(was.workLocationSignals.map((s) => [signalKey(s), s]));
    for (const s of now.workLocationSignals) {
      const old = oldSignals.get(signalKey(s));
      oldSignals.delete(signalKey(s));
      if (old && sameFields(old, s)) continue;
      sql.exec(
        `INSERT OR REPLACE INTO work_location (layer, source, work_location_type, place_id, local_date, set_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        s.layer,
        s.source,
        s.workLocationType,
        s.placeId,
        s.localDate,
        s.setAt,
      );
    }
    for (const gone of oldSignals.values()) {
      sql.exec("DELETE FROM work_location WHERE layer = ? AND source = ?", gone.layer, gone.source);
    }

    if (was.mailboxSettings !== now.mailboxSettings) {
      sql.exec(
        "INSERT OR REPLACE INTO mailbox_settings (singleton, json) VALUES (1, ?)",
        JSON.stringify(now.mailboxSettings),
      );
    }

    const v = after.version;
    if (v !== before.version && v.visible !== null && v.changedAt !== null) {
      // One statement for the three keys: a change writes them on every visible write.
      sql.exec(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?), (?, ?), (?, ?)",
        SEQUENCE_KEY,
        String(v.counter),
        VISIBLE_KEY,
        v.visible,
        CHANGED_KEY,
        String(v.changedAt),
      );
    }
  }

  /** The relay shards that hold a watcher or subscription of this user. */
  relayShards(): number[] {
    if (!this.exists()) return [];
    return this.sql
      .exec<{ shard: number }>("SELECT shard FROM relay_shards")
      .toArray()
      .map((r) => r.shard);
  }

  addRelayShard(shard: number): void {
    this.ensureSchema();
    this.sql.exec("INSERT OR IGNORE INTO relay_shards (shard) VALUES (?)", shard);
  }

  removeRelayShard(shard: number): void {
    if (this.exists()) this.sql.exec("DELETE FROM relay_shards WHERE shard = ?", shard);
  }

  /** Records a change for the relays (in the commit's transaction). */
  addChange(change: ChangeRecord): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO changes (sequence, record) VALUES (?, ?)",
      change.sequenceNumber,
      JSON.stringify(change),
    );
  }

  /** The oldest changes not yet passed to every relay, in order. */
  pendingChanges(limit: number): ChangeRecord[] {
    if (!this.exists()) return [];
    return this.sql
      .exec<{ record: string }>("SELECT record FROM changes ORDER BY sequence LIMIT ?", limit)
      .toArray()
      .map((r) => JSON.parse(r.record) as ChangeRecord);
  }

  hasPendingChanges(): boolean {
    return this.exists() && this.sql.exec("SELECT 1 FROM changes LIMIT 1").toArray().length > 0;
  }

  /** The relays have every change up to `sequenceNumber`. */
  removeChangesThrough(sequenceNumber: string): void {
    this.sql.exec("DELETE FROM changes WHERE sequence <= ?", sequenceNumber);
  }

  /** D29: after `deleteAll`, the object has no tables until its next write. */
  forgetSchema(): void {
    this.schemaReady = false;
  }
}
