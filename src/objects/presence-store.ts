import { chunk } from "../domain/fanout";
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
import { MAX_BOUND_VALUES, placeholders, tablesAmong, tablesAmongQuery } from "../shared/sqlite";
import { LEGACY_TABLES, MIGRATIONS, MIGRATIONS_TABLE, migrate } from "./presence-schema";

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
 * watched made 16 statements where it now makes 3 (docs/benchmarks.md, "The write on 1,000
 * users, taken apart").
 */
const LOAD_ALL = `SELECT
  (SELECT json_group_object(key, value) FROM state) AS state,
  (SELECT json_group_array(shard) FROM relay_shards) AS relay_shards,
  (SELECT json_group_array(name) FROM read_views) AS read_views,
  EXISTS (SELECT 1 FROM changes) AS has_changes`;

type LoadAllRow = { state: string; relay_shards: string; read_views: string; has_changes: number };

/**
 * A starting object's first statement: LOAD_ALL, with what `exists` would otherwise look up in
 * two statements more (the migrations applied, the legacy tables left). It fails to compile in an
 * object that has no tables (a user never written) or older ones; those take the long way.
 */
const FIRST_LOAD = `${LOAD_ALL},
  (SELECT count(*) FROM ${MIGRATIONS_TABLE}) AS migrations,
  (SELECT json_group_array(name) FROM (${tablesAmongQuery(LEGACY_TABLES.length)})) AS legacy`;

type FirstLoadRow = LoadAllRow & { migrations: number; legacy: string };

/*
 * The rows of the state table: a key per thing stored, its value a JSON array (the mailbox
 * settings: their JSON; the version's keys: plain text). A write is one statement of rows to
 * upsert and, when something went, one of keys to delete.
 */
type SessionTuple = [string, string, string, number, number];
type PreferredTuple = [string, string, number, number];
type StatusMessageTuple = [string, number, number | null, string | null];
type WorkLocationTuple = [string, string, string, string | null, string, number];
const SESSION_PREFIX = "session:";
const WORK_LOCATION_PREFIX = "work_location:";
const PREFERRED_KEY = "preferred";
const STATUS_MESSAGE_KEY = "status_message";
const MAILBOX_SETTINGS_KEY = "mailbox_settings";
// The version's three values (D10).
const SEQUENCE_KEY = "sequence";
const VISIBLE_KEY = "visible";
const CHANGED_KEY = "changed";
/** Rows per statement: two bound values each. */
const ROWS_PER_STATEMENT = MAX_BOUND_VALUES / 2;

const sessionKey = (s: PresenceSession) => `${SESSION_PREFIX}${s.sessionId}`;
const signalKey = (s: WorkLocationSignal) => `${WORK_LOCATION_PREFIX}${s.layer}:${s.source}`;
const sessionRow = (s: PresenceSession): SessionTuple => [
  s.sessionId,
  s.availability,
  s.activity,
  s.refreshedAt,
  s.expiresAt,
];
const signalRow = (s: WorkLocationSignal): WorkLocationTuple => [
  s.layer,
  s.source,
  s.workLocationType,
  s.placeId,
  s.localDate,
  s.setAt,
];

const sameFields = <T extends object>(a: T, b: T) => (Object.keys(a) as (keyof T)[]).every((key) => a[key] === b[key]);

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
    const row = this.schemaReady ? this.loadAll() : this.firstLoad();
    if (!row) return NOTHING_STORED;
    const rows = JSON.parse(row.state) as Record<string, string>;
    const sessions: PresenceSession[] = [];
    const workLocationSignals: WorkLocationSignal[] = [];
    for (const [key, value] of Object.entries(rows)) {
      if (key.startsWith(SESSION_PREFIX)) {
        const [sessionId, availability, activity, refreshedAt, expiresAt] = JSON.parse(value) as SessionTuple;
        sessions.push({
          sessionId,
          availability: availability as Availability,
          activity: activity as Activity,
          refreshedAt,
          expiresAt,
        });
      } else if (key.startsWith(WORK_LOCATION_PREFIX)) {
        const [layer, source, workLocationType, placeId, localDate, setAt] = JSON.parse(value) as WorkLocationTuple;
        workLocationSignals.push({
          layer: layer as WorkLocationLayer,
          source,
          workLocationType: workLocationType as WorkLocationType,
          placeId,
          localDate,
          setAt,
        });
      }
    }
    const preferred = rows[PREFERRED_KEY];
    const p = preferred === undefined ? null : (JSON.parse(preferred) as PreferredTuple);
    const statusMessage = rows[STATUS_MESSAGE_KEY];
    const m = statusMessage === undefined ? null : (JSON.parse(statusMessage) as StatusMessageTuple);
    const mailboxSettings = rows[MAILBOX_SETTINGS_KEY];
    const changed = rows[CHANGED_KEY];
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
            mailboxSettings === undefined ? DEFAULT_MAILBOX_SETTINGS : (JSON.parse(mailboxSettings) as MailboxSettings),
        },
        version: {
          counter: Number(rows[SEQUENCE_KEY] ?? 0),
          visible: rows[VISIBLE_KEY] ?? null,
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

  private loadAll(): LoadAllRow {
    const [row] = this.sql.exec<LoadAllRow>(LOAD_ALL).toArray();
    if (!row) throw new Error("LOAD_ALL returned no row");
    return row;
  }

  /**
   * The first load after a start: one statement when the schema is current (most starts), else
   * the long way (exists: the catalogue, then migrations). Null: a user never written (D3).
   */
  private firstLoad(): LoadAllRow | null {
    try {
      const [row] = this.sql.exec<FirstLoadRow>(FIRST_LOAD, ...LEGACY_TABLES).toArray();
      if (row && row.migrations === MIGRATIONS.length) {
        this.schemaReady = true;
        this.legacyTables = JSON.parse(row.legacy) as string[];
        return row;
      }
    } catch {
      // No such table: never written, or written by an earlier version. A real storage failure
      // meets the long way's statements too, and is thrown from there.
    }
    return this.exists() ? this.loadAll() : null;
  }

  /**
   * Writes the rows in which `after` differs from `before` (what the object last loaded or saved):
   * one statement of upserts and, when something went, one of deletes.
   */
  save(before: StoredPresence, after: StoredPresence): void {
    const upserts: [string, string][] = [];
    const deletes: string[] = [];
    const was = before.state;
    const now = after.state;

    const oldSessions = new Map(was.sessions.map((s) => [s.sessionId, s]));
    for (const s of now.sessions) {
      const old = oldSessions.get(s.sessionId);
      oldSessions.delete(s.sessionId);
      if (!old || !sameFields(old, s)) upserts.push([sessionKey(s), JSON.stringify(sessionRow(s))]);
    }
    for (const gone of oldSessions.values()) deletes.push(sessionKey(gone));

    if (was.preferred !== now.preferred) {
      const p = now.preferred;
      if (!p) deletes.push(PREFERRED_KEY);
      else {
        const row: PreferredTuple = [p.availability, p.activity, p.setAt, p.expiresAt];
        upserts.push([PREFERRED_KEY, JSON.stringify(row)]);
      }
    }

    if (was.statusMessage !== now.statusMessage) {
      const m = now.statusMessage;
      if (!m) deletes.push(STATUS_MESSAGE_KEY);
      else {
        const row: StatusMessageTuple = [m.content, m.publishedAt, m.expiresAt, m.expiresAtSubMs ?? null];
        upserts.push([STATUS_MESSAGE_KEY, JSON.stringify(row)]);
      }
    }

    const oldSignals = new Map(was.workLocationSignals.map((s) => [signalKey(s), s]));
    for (const s of now.workLocationSignals) {
      const old = oldSignals.get(signalKey(s));
      oldSignals.delete(signalKey(s));
      if (!old || !sameFields(old, s)) upserts.push([signalKey(s), JSON.stringify(signalRow(s))]);
    }
    for (const gone of oldSignals.keys()) deletes.push(gone);

    if (was.mailboxSettings !== now.mailboxSettings) {
      upserts.push([MAILBOX_SETTINGS_KEY, JSON.stringify(now.mailboxSettings)]);
    }

    const v = after.version;
    if (v !== before.version && v.visible !== null && v.changedAt !== null) {
      upserts.push([SEQUENCE_KEY, String(v.counter)], [VISIBLE_KEY, v.visible], [CHANGED_KEY, String(v.changedAt)]);
    }

    if (upserts.length === 0 && deletes.length === 0) return;
    // The tables are made by the first write, not by a change that writes nothing (D3).
    this.ensureSchema();
    for (const rows of chunk(upserts, ROWS_PER_STATEMENT)) {
      this.sql.exec(
        `INSERT OR REPLACE INTO state (key, value) VALUES ${rows.map(() => "(?, ?)").join(", ")}`,
        ...rows.flat(),
      );
    }
    for (const keys of chunk(deletes, MAX_BOUND_VALUES)) {
      this.sql.exec(`DELETE FROM state WHERE key IN (${placeholders(keys.length)})`, ...keys);
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
