import { hasTable } from "../shared/sqlite";

/**
 * The tables of one user's object, as a list of changes applied once each and in order.
 * SQLite-backed Durable Objects do not support `PRAGMA user_version`, so applied versions are
 * kept in a table of their own.
 */
export const MIGRATIONS: readonly string[] = [
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
  // relays; the user's object keeps which relay shards hold anyone, and its changes (one row per
  // change, whatever the audience) until every relay has them. Hub registrations end with their
  // sockets (a deploy drops them all). An object's earlier subscriptions and outbox are kept
  // aside and handed to the relays and the queue when the object next runs (adoptLegacy).
  `DROP TABLE hub_watchers;
   ALTER TABLE subscribers RENAME TO legacy_subscribers;
   ALTER TABLE outbox RENAME TO legacy_outbox;
   CREATE TABLE relay_shards (shard INTEGER PRIMARY KEY);
   CREATE TABLE changes (sequence TEXT PRIMARY KEY, record TEXT NOT NULL);`,
  // The status message expiry's digits below the millisecond, as the caller wrote them (D28).
  `ALTER TABLE status_message ADD COLUMN expires_at_sub_ms TEXT;`,
  // The regions' read views registered with the user's relays (D30), so the Worker that carries a
  // write knows whether its region's view holds the user (read-your-writes).
  `CREATE TABLE read_views (name TEXT PRIMARY KEY);`,
  // The presence in one table of keyed rows (each session, the preferred presence, the status
  // message, each work-location signal, the mailbox settings, the version's keys), so a write is
  // one statement whatever it changes and a starting object opens five tables, not ten: each
  // statement costs a write about as much as the floor's whole commit (docs/benchmarks.md, "The
  // write on 1,000 users, taken apart"). The rows' keys and values are PresenceStore's.
  `ALTER TABLE meta RENAME TO state;
   INSERT OR REPLACE INTO state (key, value)
     SELECT 'session:' || session_id, json_array(session_id, availability, activity, refreshed_at, expires_at) FROM sessions;
   INSERT OR REPLACE INTO state (key, value)
     SELECT 'preferred', json_array(availability, activity, set_at, expires_at) FROM preferred_presence;
   INSERT OR REPLACE INTO state (key, value)
     SELECT 'status_message', json_array(content, published_at, expires_at, expires_at_sub_ms) FROM status_message;
   INSERT OR REPLACE INTO state (key, value)
     SELECT 'work_location:' || layer || ':' || source, json_array(layer, source, work_location_type, place_id, local_date, set_at)
     FROM work_location;
   INSERT OR REPLACE INTO state (key, value) SELECT 'mailbox_settings', json FROM mailbox_settings;
   DROP TABLE sessions;
   DROP TABLE preferred_presence;
   DROP TABLE status_message;
   DROP TABLE work_location;
   DROP TABLE mailbox_settings;`,
];

/** The table of applied migrations: there once anything was ever written (D3). */
export const MIGRATIONS_TABLE = "schema_migrations";

/**
 * Applies the changes not yet applied: to a new user's empty database, or to an object written by
 * an earlier version (the first time it is touched, reads included, so no query ever meets an old
 * schema). Legacy tables with nothing in them go at once; others wait for adoptLegacy. `tableExists`:
 * the caller saw the migrations table already. Returns whether anything was applied.
 */
export function migrate(sql: SqlStorage, tableExists = false): boolean {
  if (!tableExists) sql.exec(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY)`);
  const applied = new Set(
    sql
      .exec<{ version: number }>(`SELECT version FROM ${MIGRATIONS_TABLE}`)
      .toArray()
      .map((r) => r.version),
  );
  if (applied.size === MIGRATIONS.length) return false;
  MIGRATIONS.forEach((statement, index) => {
    const version = index + 1;
    if (applied.has(version)) return;
    sql.exec(statement);
    sql.exec(`INSERT INTO ${MIGRATIONS_TABLE} (version) VALUES (?)`, version);
  });
  for (const table of LEGACY_TABLES) {
    if (hasTable(sql, table) && sql.exec(`SELECT 1 FROM ${table} LIMIT 1`).toArray().length === 0) {
      sql.exec(`DROP TABLE ${table}`);
    }
  }
  return true;
}

/** What an object written before the fan-out tree still holds, to hand on (adoptLegacy). */
export const LEGACY_TABLES = ["legacy_subscribers", "legacy_outbox"] as const;
