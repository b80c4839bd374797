import {
  type Activity,
  type Audience,
  type Availability,
  DEFAULT_MAILBOX_SETTINGS,
  type MailboxSettings,
  type PreferredPresence,
  type PresenceSession,
  type PresenceState,
  type StatusMessage,
  type WorkLocationLayer,
  type WorkLocationSignal,
  type WorkLocationType,
} from "../domain/model";

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
  // The status message expiry's digits below the millisecond, as the caller wrote them (D28).
  `ALTER TABLE status_message ADD COLUMN expires_at_sub_ms TEXT;`,
];

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

/**
 * All SQL of one user's presence. Every method is synchronous, so a sequence
 * of calls with no `await` between them commits as one transaction.
 *
 * The object is the only writer of these rows, so the store keeps a copy of
 * what it read or wrote (write-through): a settle after a write then costs no
 * SELECTs. The copy starts empty whenever the object starts.
 */
export class PresenceStore {
  private schemaReady = false;
  private state: PresenceState | null = null;
  private readonly meta = new Map<string, string | null>();
  private subscriberRows: { subscriptionId: string; appId: string; audience: Audience }[] | null = null;
  private hubRows: { hubId: string; audience: Audience }[] | null = null;
  private outboxRows: { id: number; jobs: string }[] | null = null;

  constructor(private readonly sql: SqlStorage) {}

  /** True once anything was ever written; reads of an unwritten user must not create storage (D3). */
  exists(): boolean {
    if (this.schemaReady) return true;
    const found = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    return found.toArray().length > 0;
  }

  ensureSchema(): void {
    if (this.schemaReady) return;
    this.sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
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
    this.schemaReady = true;
  }

  /** Forgets the copy, so the next read comes from SQL (after a failed write, say). */
  forgetCopy(): void {
    this.state = null;
    this.meta.clear();
    this.subscriberRows = null;
    this.hubRows = null;
    this.outboxRows = null;
  }

  load(): PresenceState {
    this.state ??= this.loadFromSql();
    const s = this.state;
    return { ...s, sessions: [...s.sessions], workLocationSignals: [...s.workLocationSignals] };
  }

  private loadFromSql(): PresenceState {
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
    const preferred: PreferredPresence | null = p
      ? {
          availability: p.availability as Availability,
          activity: p.activity as Activity,
          setAt: p.set_at,
          expiresAt: p.expires_at,
        }
      : null;
    const [m] = this.sql.exec<StatusMessageRow>("SELECT * FROM status_message").toArray();
    const statusMessage: StatusMessage | null = m
      ? {
          content: m.content,
          publishedAt: m.published_at,
          expiresAt: m.expires_at,
          ...(m.expires_at_sub_ms ? { expiresAtSubMs: m.expires_at_sub_ms } : {}),
        }
      : null;
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
    return {
      sessions,
      preferred,
      statusMessage,
      workLocationSignals,
      mailboxSettings: this.mailboxSettingsFromSql(),
    };
  }

  mailboxSettings(): MailboxSettings {
    return this.state?.mailboxSettings ?? this.mailboxSettingsFromSql();
  }

  private mailboxSettingsFromSql(): MailboxSettings {
    const [row] = this.sql.exec<{ json: string }>("SELECT json FROM mailbox_settings").toArray();
    return row ? (JSON.parse(row.json) as MailboxSettings) : DEFAULT_MAILBOX_SETTINGS;
  }

  setMailboxSettings(settings: MailboxSettings): void {
    this.sql.exec("INSERT OR REPLACE INTO mailbox_settings (singleton, json) VALUES (1, ?)", JSON.stringify(settings));
    if (this.state) this.state.mailboxSettings = settings;
  }

  upsertWorkLocation(s: WorkLocationSignal): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO work_location (layer, source, work_location_type, place_id, local_date, set_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
      s.layer,
      s.source,
      s.workLocationType,
      s.placeId,
      s.localDate,
      s.setAt,
    );
    if (this.state) {
      this.state.workLocationSignals = [
        ...this.state.workLocationSignals.filter((w) => !(w.layer === s.layer && w.source === s.source)),
        s,
      ];
    }
  }

  /** Removes the signals of `layer`, or of both layers. */
  clearWorkLocation(layer?: WorkLocationLayer): void {
    if (layer) this.sql.exec("DELETE FROM work_location WHERE layer = ?", layer);
    else this.sql.exec("DELETE FROM work_location");
    if (this.state) {
      this.state.workLocationSignals = layer ? this.state.workLocationSignals.filter((w) => w.layer !== layer) : [];
    }
  }

  /** Removes rows whose time is up; `expires_at` null means never; signals of another date than `today`. */
  deleteExpired(now: number, today: string): void {
    this.sql.exec("DELETE FROM work_location WHERE local_date <> ?", today);
    this.sql.exec("DELETE FROM sessions WHERE expires_at <= ?", now);
    this.sql.exec("DELETE FROM preferred_presence WHERE expires_at <= ?", now);
    this.sql.exec("DELETE FROM status_message WHERE expires_at IS NOT NULL AND expires_at <= ?", now);
    const st = this.state;
    if (st) {
      st.workLocationSignals = st.workLocationSignals.filter((w) => w.localDate === today);
      st.sessions = st.sessions.filter((x) => x.expiresAt > now);
      if (st.preferred && st.preferred.expiresAt <= now) st.preferred = null;
      const m = st.statusMessage;
      if (m && m.expiresAt !== null && m.expiresAt <= now) st.statusMessage = null;
    }
  }

  upsertSession(s: PresenceSession): void {
    this.sql.exec(
      `INSERT INTO sessions (session_id, availability, activity, refreshed_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET availability = excluded.availability, activity = excluded.activity,
         refreshed_at = excluded.refreshed_at, expires_at = excluded.expires_at`,
      s.sessionId,
      s.availability,
      s.activity,
      s.refreshedAt,
      s.expiresAt,
    );
    if (this.state) this.state.sessions = [...this.state.sessions.filter((x) => x.sessionId !== s.sessionId), s];
  }

  /** Returns false when there was no such session. */
  deleteSession(sessionId: string): boolean {
    const found = this.sql.exec("DELETE FROM sessions WHERE session_id = ?", sessionId).rowsWritten > 0;
    if (this.state) this.state.sessions = this.state.sessions.filter((x) => x.sessionId !== sessionId);
    return found;
  }

  setPreferred(p: PreferredPresence): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO preferred_presence (singleton, availability, activity, set_at, expires_at) VALUES (1, ?, ?, ?, ?)",
      p.availability,
      p.activity,
      p.setAt,
      p.expiresAt,
    );
    if (this.state) this.state.preferred = p;
  }

  clearPreferred(): void {
    this.sql.exec("DELETE FROM preferred_presence");
    if (this.state) this.state.preferred = null;
  }

  setStatusMessage(m: StatusMessage | null): void {
    this.sql.exec("DELETE FROM status_message");
    if (m) {
      this.sql.exec(
        "INSERT INTO status_message (singleton, content, published_at, expires_at, expires_at_sub_ms) VALUES (1, ?, ?, ?, ?)",
        m.content,
        m.publishedAt,
        m.expiresAt,
        m.expiresAtSubMs ?? null,
      );
    }
    if (this.state) this.state.statusMessage = m;
  }

  addHubWatcher(hubId: string, audience: Audience): void {
    this.sql.exec("INSERT OR REPLACE INTO hub_watchers (hub_id, audience) VALUES (?, ?)", hubId, audience);
    this.hubRows = null;
  }

  removeHubWatcher(hubId: string): void {
    this.sql.exec("DELETE FROM hub_watchers WHERE hub_id = ?", hubId);
    this.hubRows = null;
  }

  hubWatchers(): { hubId: string; audience: Audience }[] {
    this.hubRows ??= this.sql
      .exec<{ hub_id: string; audience: string }>("SELECT hub_id, audience FROM hub_watchers")
      .toArray()
      .map((r) => ({ hubId: r.hub_id, audience: r.audience as Audience }));
    return this.hubRows;
  }

  addSubscriber(subscriptionId: string, appId: string, audience: Audience): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO subscribers (subscription_id, app_id, audience) VALUES (?, ?, ?)",
      subscriptionId,
      appId,
      audience,
    );
    this.subscriberRows = null;
  }

  removeSubscriber(subscriptionId: string): void {
    this.sql.exec("DELETE FROM subscribers WHERE subscription_id = ?", subscriptionId);
    this.subscriberRows = null;
  }

  subscribers(): { subscriptionId: string; appId: string; audience: Audience }[] {
    this.subscriberRows ??= this.sql
      .exec<{ subscription_id: string; app_id: string; audience: string }>("SELECT * FROM subscribers")
      .toArray()
      .map((r) => ({ subscriptionId: r.subscription_id, appId: r.app_id, audience: r.audience as Audience }));
    return this.subscriberRows;
  }

  addToOutbox(jobs: unknown[]): void {
    this.sql.exec("INSERT INTO outbox (jobs) VALUES (?)", JSON.stringify(jobs));
    this.outboxRows = null;
  }

  outbox(): { id: number; jobs: string }[] {
    this.outboxRows ??= this.sql
      .exec<{ id: number; jobs: string }>("SELECT id, jobs FROM outbox ORDER BY id")
      .toArray();
    return [...this.outboxRows];
  }

  removeFromOutbox(id: number): void {
    this.sql.exec("DELETE FROM outbox WHERE id = ?", id);
    this.outboxRows = this.outboxRows?.filter((r) => r.id !== id) ?? null;
  }

  getMeta(key: string): string | null {
    if (!this.meta.has(key)) {
      const [row] = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray();
      this.meta.set(key, row?.value ?? null);
    }
    return this.meta.get(key) ?? null;
  }

  /** Writes several keys in one statement: a change writes three on every write request. */
  setMeta(entries: Record<string, string>): void {
    const pairs = Object.entries(entries);
    if (pairs.length === 0) return;
    this.sql.exec(
      `INSERT OR REPLACE INTO meta (key, value) VALUES ${pairs.map(() => "(?, ?)").join(", ")}`,
      ...pairs.flat(),
    );
    for (const [key, value] of pairs) this.meta.set(key, value);
  }
}
