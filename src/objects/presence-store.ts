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
import { hasTable } from "../shared/sqlite";
import { LEGACY_TABLES, migrate, schemaExists } from "./presence-schema";

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

  /**
   * True once anything was ever written; reads of an unwritten user must not create storage (D3).
   * An object written by an earlier version gets its schema brought up to date on this first look.
   */
  exists(): boolean {
    if (this.schemaReady) return true;
    if (!schemaExists(this.sql)) return false;
    migrate(this.sql);
    this.schemaReady = true;
    return true;
  }

  ensureSchema(): void {
    if (this.schemaReady) return;
    migrate(this.sql);
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

  /**
   * What an object written before the fan-out tree still holds: its subscriptions (to register
   * with the relays) and its outbox (notification jobs for the queue); null when nothing.
   */
  legacy(): { subscribers: { subscriptionId: string; appId: string; audience: Audience }[]; jobs: unknown[] } | null {
    if (!this.exists() || !LEGACY_TABLES.some((table) => hasTable(this.sql, table))) return null;
    const subscribers = hasTable(this.sql, "legacy_subscribers")
      ? this.sql
          .exec<{ subscription_id: string; app_id: string; audience: string }>("SELECT * FROM legacy_subscribers")
          .toArray()
          .map((r) => ({ subscriptionId: r.subscription_id, appId: r.app_id, audience: r.audience as Audience }))
      : [];
    const jobs = hasTable(this.sql, "legacy_outbox")
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
  }

  /** D29: after `deleteAll`, the object has no tables until its next write. */
  forgetSchema(): void {
    this.schemaReady = false;
  }
}
