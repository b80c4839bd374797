import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAILBOX_SETTINGS,
  EMPTY_STATE,
  type MailboxSettings,
  type PresenceState,
} from "../../src/domain/model";
import { FIRST_VERSION } from "../../src/domain/settle";
import { PresenceStore } from "../../src/objects/presence-store";
import { newUserId, schemaAsOfVersion, tablesOf, userObject } from "../helpers";

// The user's object keeps its presence as keyed rows of one table (migration 8). What is saved
// must load back whole, however many rows one save writes, and an object written with the
// tables of each kind (schema 7) must read back the same after its upgrade.

const T = Date.UTC(2030, 1, 1, 9, 0, 0);
const MAILBOX: MailboxSettings = {
  ...DEFAULT_MAILBOX_SETTINGS,
  timeZone: "Europe/Paris",
  automaticRepliesSetting: { ...DEFAULT_MAILBOX_SETTINGS.automaticRepliesSetting, status: "alwaysEnabled" },
};

/** A state with something of every kind: sessions, preferred presence, status message, both layers, mailbox settings. */
function everything(sessions: number): PresenceState {
  return {
    sessions: Array.from({ length: sessions }, (_, i) => ({
      sessionId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      availability: i % 2 ? "Busy" : "Available",
      activity: i % 2 ? "InACall" : "Available",
      refreshedAt: T + i,
      expiresAt: T + 3_600_000 + i,
    })),
    preferred: { availability: "DoNotDisturb", activity: "Presenting", setAt: T, expiresAt: T + 1_800_000 },
    statusMessage: { content: "in 'quotes', 日本語", publishedAt: T, expiresAt: T + 60_000, expiresAtSubMs: "1234" },
    workLocationSignals: [
      { layer: "manual", source: "", workLocationType: "office", placeId: "bldg:1", localDate: "2030-02-01", setAt: T },
      {
        layer: "automatic",
        source: "11111111-1111-4111-8111-111111111111",
        workLocationType: "remote",
        placeId: null,
        localDate: "2030-02-01",
        setAt: T + 5,
      },
    ],
    mailboxSettings: MAILBOX,
  };
}

const version = (counter: number) => ({ counter, visible: `visible ${counter}`, changedAt: T + counter });

describe("the presence store", () => {
  it("loads back what it saved, every kind of row, in saves that write and delete more rows than one statement takes", async () => {
    const loaded = await runInDurableObject(userObject(newUserId()), (_i, state) => {
      const written = { state: everything(105), version: version(7) };
      new PresenceStore(state.storage.sql).save({ state: EMPTY_STATE, version: FIRST_VERSION }, written);
      // A new store over the same storage: the object as it starts again.
      const afterWrite = new PresenceStore(state.storage.sql).load().presence;

      const fewer = { ...everything(3), preferred: null, statusMessage: null, workLocationSignals: [] };
      const cleared = { state: fewer, version: version(8) };
      new PresenceStore(state.storage.sql).save(written, cleared);
      const afterDelete = new PresenceStore(state.storage.sql).load().presence;
      return { afterWrite, afterDelete, written, cleared };
    });
    const bySession = (s: PresenceState) => ({
      ...s,
      sessions: [...s.sessions].sort((a, b) => a.refreshedAt - b.refreshedAt),
    });
    expect(bySession(loaded.afterWrite.state)).toEqual(loaded.written.state);
    expect(loaded.afterWrite.version).toEqual(loaded.written.version);
    expect(bySession(loaded.afterDelete.state)).toEqual(loaded.cleared.state);
    expect(loaded.afterDelete.version).toEqual(loaded.cleared.version);
  });

  it("moves an object written with a table per kind (schema 7) into keyed rows, losing nothing", async () => {
    const user = newUserId();
    const old = everything(2);
    const [s0, s1] = old.sessions;
    const [manual, automatic] = old.workLocationSignals;
    const loaded = await runInDurableObject(userObject(user), (_i, state) => {
      const sql = state.storage.sql;
      schemaAsOfVersion(sql, 7);
      for (const s of [s0, s1]) {
        if (!s) throw new Error("two sessions expected");
        sql.exec(
          "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
          s.sessionId,
          s.availability,
          s.activity,
          s.refreshedAt,
          s.expiresAt,
        );
      }
      sql.exec("INSERT INTO preferred_presence VALUES (1, 'DoNotDisturb', 'Presenting', ?, ?)", T, T + 1_800_000);
      sql.exec(
        "INSERT INTO status_message (singleton, content, published_at, expires_at, expires_at_sub_ms) VALUES (1, ?, ?, ?, '1234')",
        old.statusMessage?.content ?? "",
        T,
        T + 60_000,
      );
      for (const w of [manual, automatic]) {
        if (!w) throw new Error("two signals expected");
        sql.exec(
          "INSERT INTO work_location VALUES (?, ?, ?, ?, ?, ?)",
          w.layer,
          w.source,
          w.workLocationType,
          w.placeId,
          w.localDate,
          w.setAt,
        );
      }
      sql.exec("INSERT INTO mailbox_settings VALUES (1, ?)", JSON.stringify(MAILBOX));
      sql.exec(
        "INSERT INTO meta (key, value) VALUES ('sequence', '7'), ('visible', 'visible 7'), ('changed', ?)",
        String(T + 7),
      );
      return new PresenceStore(sql).load().presence;
    });
    expect(loaded.state).toEqual(old);
    expect(loaded.version).toEqual(version(7));
    const tables = await tablesOf(userObject(user));
    expect(tables.sort()).toEqual(["changes", "read_views", "relay_shards", "schema_migrations", "state"]);
  });
});
