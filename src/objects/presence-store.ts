import {
  type Activity,
  type Audience,
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
import { tablesAmong } from "../shared/sqlite";
import { LEGACY_TABLES, MIGRATIONS_TABLE, migrate } from "./presence-schema";

/** A user's presence as stored: the inputs the view is computed from, and its version (D10). */
export interface StoredPresence {
  state: PresenceState;
  version: Version;
}

/** The fan-out's rows a starting object needs (UserFanout.seed), read in the same statement. */
export interface StoredFanout {
  relayShards: number[];
  readViews: string[];
  hasChanges: boolean;
}

const NOTHING_STORED: { presence: StoredPresence; fanout: StoredFanout } = {
  presence: { state: EMPTY_STATE, version: FIRST_VERSION },
  fanout: { relayShards: [], readViews: [], hasChanges: false },
};

/**
 * Everything a starting object reads, in one statement, each table's rows as JSON. Every
 * statement has a cost of its own, and an object starts again after each idle spell, which for a
 * user's presence is most writes: read table by table, a cold write that changed something
 * watched made 16 statements where it now makes 6 (docs/benchmarks.md, "The write on 1,000
 * users, taken apart").
 */
const LOAD_ALL = `SELECT
  (SELECT json_group_array(json_array(session_id, availability, activity, refreshed_at, expires_at)) FROM sessions) AS sessions,
  (SELECT json_array(availability, activity, set_at, expires_at) FROM preferred_presence) AS preferred,
  (SELECT json_array(content, published_at, expires_at, expires_at_sub_ms) FROM status_message) AS status_message,
  (SELECT json_group_array(json_array(layer, source, work_location_type, place_id, local_date, set_at)) FROM work_location) AS work_location,
  (SELECT json FROM mailbox_settings) AS mailbox_settings,
  (SELECT json_group_object(key, value) FROM meta) AS meta,
  (SELECT json_group_array(shard) FROM relay_shards) AS relay_shards,
  (SELECT json_group_array(name) FROM read_views) AS read_views,
  EXISTS (SELECT 1 FROM changes) AS has_changes`;

type LoadAllRow = {
  sessions: string;
  preferred: string | null;
  status_message: string | null;
  work_location: string;
  mailbox_settings: string | null;
  meta: string;
  relay_shards: string;
  read_views: string;
  has_changes: number;
};
type SessionTuple = [string, string, string, number, number];
type PreferredTuple = [string, string, number, number];
type StatusMessageTuple = [string, number, number | null, string | null];
type WorkLocationTuple = [string, string, string, string | null, string, number];

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
  /** The legacy tables an earlier version left, as the first look found them; null: not known. */
  private legacyTables: string[] | null = null;

  constructor(private readonly sql: SqlStorage) {}

  /**
   * True once anything was ever written; reads of an unwritten user must not create storage (D3).
   * An object written by an earlier version gets its schema brought up to date on this first look,
   * which also notes the legacy tables (adoptLegacy): one look at the catalogue for both.
   */
  exists(): boolean {
    if (this.schemaReady) return true;
    const tables = tablesAmong(this.sql, [MIGRATIONS_TABLE, ...LEGACY_TABLES]);
    if (!tables.has(MIGRATIONS_TABLE)) return false;
    // Applying migrations may drop legacy tables: then they are looked up again when needed.
    this.legacyTables = migrate(this.sql, true) ? null : LEGACY_TABLES.filter((table) => tables.has(table));
    this.schemaReady = true;
    return true;
  }

  ensureSchema(): void {
    if (this.schemaReady) return;
    migrate(this.sql);
    this.schemaReady = true;
  }

  /**
   * Everything stored about the user's presence (a user nobody has written has the empty state,
   * D3), and the fan-out's rows, in one statement (LOAD_ALL).
   */
  load(): { presence: StoredPresence; fanout: StoredFanout } {
    if (!this.exists()) return NOTHING_STORED;
    const [row] = this.sql.exec<LoadAllRow>(LOAD_ALL).toArray();
    if (!row) throw new Error("LOAD_ALL returned no row");
    const sessions = (JSON.parse(row.sessions) as SessionTuple[]).map(
      ([sessionId, availability, activity, refreshedAt, expiresAt]): PresenceSession => ({
        sessionId,
        availability: availability as Availability,
        activity: activity as Activity,
        refreshedAt,
        expiresAt,
      }),
    );
    const p = row.preferred === null ? null : (JSON.parse(row.preferred) as PreferredTuple);
    const m = row.status_message === null ? null : (JSON.parse(row.status_message) as StatusMessageTuple);
    const workLocationSignals = (JSON.parse(row.work_location) as WorkLocationTuple[]).map(
      ([layer, source, workLocationType, placeId, localDate, setAt]): WorkLocationSignal => ({
        layer: layer as WorkLocationLayer,
        source,
        workLocationType: workLocationType as WorkLocationType,
        placeId,
        localDate,
        setAt,
      }),
    );
    const meta = JSON.parse(row.meta) as Record<string, string>;
    const changed = meta[CHANGED_KEY];
    return {
      presence: {
        state: {
          sessions,
          preferred: p
            ? { availability: p[0] as Availability, activity: p[1] as Activity, setAt: p[2], expiresAt: p[3] }
            : null,
          statusMessage: m
            ? {
                content: m[0],
                publishedAt: m[1],
                expiresAt: m[2],
                ...(m[3] ? { expiresAtSubMs: m[3] } : {}),
              }
            : null,
          workLocationSignals,
          mailboxSettings:
            row.mailbox_settings === null
              ? DEFAULT_MAILBOX_SETTINGS
              : (JSON.parse(row.mailbox_settings) as MailboxSettings),
        },
        version: {
          counter: Number(meta[SEQUENCE_KEY] ?? 0),
          visible: meta[VISIBLE_KEY] ?? null,
          changedAt: changed === undefined ? null : Number(changed),
        },
      },
      fanout: {
        relayShards: JSON.parse(row.relay_shards) as number[],
        readViews: JSON.parse(row.read_views) as string[],
        hasChanges: row.has_changes === 1,
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

  /**
   * What an object written before the fan-out tree still holds: its subscriptions (to register
   * with the relays) and its outbox (notification jobs for the queue); null when nothing.
   */
  legacy(): { subscribers: { subscriptionId: string; appId: string; audience: Audience }[]; jobs: unknown[] } | null {
    if (!this.exists()) return null;
    const present = this.legacyTables ?? [...tablesAmong(this.sql, LEGACY_TABLES)];
    if (present.length === 0) return null;
    const subscribers = present.includes("legacy_subscribers")
      ? this.sql
          .exec<{ subscription_id: string; app_id: string; audience: string }>("SELECT * FROM legacy_subscribers")
          .toArray()
          .map((r) => ({ subscriptionId: r.subscription_id, appId: r.app_id, audience: r.audience as Audience }))
      : [];
    const jobs = present.includes("legacy_outbox")
      ? this.sql
          .exec<{ jobs: string }>("SELECT jobs FROM legacy_outbox ORDER BY id")
          .toArray()
          .flatMap((r) => JSON.parse(r.jobs) as unknown[])
      : [];
    return { subscribers, jobs };
  }

  /** The legacy tables have been handed on. */
  dropLegacy(): void {
    for (const table of LEGACY_TABLES) this.sql.exec(`DROP TABLE IF EXISTS ${table}`);
    this.legacyTables = [];
  }

  /** D29: after `deleteAll`, the object has no tables until its next write. */
  forgetSchema(): void {
    this.schemaReady = false;
    this.legacyTables = null;
  }
}
