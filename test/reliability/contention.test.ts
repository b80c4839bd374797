import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Runtime, report, startRuntime } from "./runtime";
import { appToken, guid, secret } from "./tokens";

const APPLICATIONS = 200;

interface Seen {
  sequenceNumber: string;
  presence: string;
}

interface WatchMessage {
  presence: Record<string, unknown> & { sequenceNumber: string };
}

let runtime: Runtime;
let storage: string;
let apps: { id: string; token: string; headers: Record<string, string> }[];

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), "presence-contention-"));
  runtime = await startRuntime(storage, { AUTH_HS256_SECRET: secret });
  apps = await Promise.all(
    Array.from({ length: APPLICATIONS }, async (_, i) => {
      const id = guid(0x5000 + i);
      const token = await appToken(id, ["Presence.ReadWrite.All", "Presence.Read.All"]);
      return { id, token, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } };
    }),
  );
});

afterAll(async () => {
  await runtime?.kill();
  if (storage) await rm(storage, { recursive: true, force: true });
});

/**
 * A watcher of `user`, open and past its first snapshot, that keeps every
 * change it is sent, in the order the socket delivers them: the object's commit order.
 */
async function watch(user: string, token: string) {
  const messages: WatchMessage[] = [];
  const ws = new WebSocket(`${runtime.url.replace("http", "ws")}/v1.0/users/${user}/presence/watch`, [
    "presence.v1",
    `bearer.${token}`,
  ]);
  // Collected from the first frame on, so none can slip past; the first, the snapshot, is not a change.
  let first = true;
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("message", (e) => {
      if (first) {
        first = false;
        resolve();
      } else {
        messages.push(JSON.parse(String(e.data)) as WatchMessage);
      }
    });
    ws.addEventListener("error", () => reject(new Error("the watcher could not connect")), { once: true });
  });
  return {
    messages,
    /** Waits until the watcher has `sequenceNumber`, which it must get within 10 s. */
    async reached(sequenceNumber: string) {
      for (let waited = 0; waited < 10_000; waited += 20) {
        if (messages.at(-1)?.presence.sequenceNumber === sequenceNumber) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`the watcher never got version ${sequenceNumber}`);
    },
    close: () => ws.close(),
  };
}

const currentPresence = async (user: string, headers: Record<string, string>) =>
  (await (await fetch(`${runtime.url}/v1.0/users/${user}/presence`, { headers })).json()) as WatchMessage["presence"];

/** Strictly increasing: each version the watcher was sent is newer than the one before. */
function expectStrictlyIncreasing(messages: WatchMessage[]) {
  for (let i = 1; i < messages.length; i++) {
    const [before, after] = [messages[i - 1], messages[i]] as [WatchMessage, WatchMessage];
    expect(after.presence.sequenceNumber > before.presence.sequenceNumber, `version ${i} is not newer`).toBe(true);
  }
}

it("keeps every one of 200 simultaneous sessions on one user, with consistent sequence numbers", async () => {
  const check = "contention: sessions";
  const user = guid(0xc0c0);
  const first = apps[0] as (typeof apps)[number];
  const watcher = await watch(user, first.token);
  // Every application writes its session at once, then reads what it produced.
  const pairs = [
    ["Available", "Available"],
    ["Busy", "InACall"],
    ["Busy", "InAConferenceCall"],
    ["Away", "Away"],
    ["DoNotDisturb", "Presenting"],
  ];
  const seen: Seen[] = [];
  const statuses = await Promise.all(
    apps.map(async ({ id, headers }, i) => {
      const [availability, activity] = pairs[i % pairs.length] as [string, string];
      const write = await fetch(`${runtime.url}/v1.0/users/${user}/presence/setPresence`, {
        method: "POST",
        headers,
        body: JSON.stringify({ sessionId: id, availability, activity, expirationDuration: "PT1H" }),
      });
      await write.arrayBuffer();
      const { sequenceNumber, ...presence } = await currentPresence(user, headers);
      seen.push({ sequenceNumber, presence: JSON.stringify(presence) });
      return write.status;
    }),
  );
  const ok = statuses.filter((s) => s === 200).length;
  report(check, `${APPLICATIONS} applications set a session on one user at once: ${ok} answered 200`);
  expect(ok).toBe(APPLICATIONS);

  // D10: a sequenceNumber names one version. Two readers that saw the same
  // number saw the same presence; ordering by number orders the versions.
  const versions = new Map<string, string>();
  for (const s of seen) {
    const known = versions.get(s.sequenceNumber);
    expect(known === undefined || known === s.presence, `two presences under ${s.sequenceNumber}`).toBe(true);
    versions.set(s.sequenceNumber, s.presence);
  }
  report(
    check,
    `the writers saw ${versions.size} distinct version(s); the same sequenceNumber always meant the same presence`,
  );
  // DoNotDisturb outranks everything (D4): once all are in, that is what shows.
  const final = await currentPresence(user, first.headers);
  expect(final).toMatchObject({ availability: "DoNotDisturb", activity: "Presenting" });
  // A session that changes nothing a reader sees is not a new version (D10), so
  // the watcher was sent the visible changes only, each with a newer number.
  await watcher.reached(final.sequenceNumber);
  expectStrictlyIncreasing(watcher.messages);
  report(check, `a watcher was sent ${watcher.messages.length} versions, each newer than the one before`);
  watcher.close();

  // Every session exists: clearing each one succeeds (404 would mean it was lost).
  let cleared = 0;
  let previous = "";
  for (const { id, headers } of apps) {
    const response = await fetch(`${runtime.url}/v1.0/users/${user}/presence/clearPresence`, {
      method: "POST",
      headers,
      body: JSON.stringify({ sessionId: id }),
    });
    if (response.status === 200) cleared++;
    const { sequenceNumber } = await currentPresence(user, headers);
    expect(sequenceNumber >= previous).toBe(true);
    previous = sequenceNumber;
  }
  report(
    check,
    `all ${cleared} of ${APPLICATIONS} sessions existed and were cleared one by one; sequenceNumber never went back`,
  );
  expect(cleared).toBe(APPLICATIONS);
});

it("gives each of 200 simultaneous visible changes a distinct sequenceNumber, increasing in commit order", async () => {
  const check = "contention: visible changes";
  const user = guid(0xc0c1);
  const first = apps[0] as (typeof apps)[number];
  // A session first, so that the user is present and every status message shows.
  const session = await fetch(`${runtime.url}/v1.0/users/${user}/presence/setPresence`, {
    method: "POST",
    headers: first.headers,
    body: JSON.stringify({ sessionId: first.id, availability: "Available", activity: "Available" }),
  });
  expect(session.status).toBe(200);
  const start = (await currentPresence(user, first.headers)).sequenceNumber;
  const watcher = await watch(user, first.token);
  // Each application sets a status message of its own, all at once: every write
  // changes what readers see, so each must be a version of its own (D10).
  const statuses = await Promise.all(
    apps.map(async ({ id, headers }) => {
      const response = await fetch(`${runtime.url}/v1.0/users/${user}/presence/setStatusMessage`, {
        method: "POST",
        headers,
        body: JSON.stringify({ statusMessage: { message: { content: `from ${id}`, contentType: "text" } } }),
      });
      await response.arrayBuffer();
      return response.status;
    }),
  );
  const ok = statuses.filter((s) => s === 200).length;
  report(check, `${APPLICATIONS} applications set a status message on one user at once: ${ok} answered 200`);
  expect(ok).toBe(APPLICATIONS);

  const final = await currentPresence(user, first.headers);
  await watcher.reached(final.sequenceNumber);
  watcher.close();
  // The socket delivers in the order the object committed: one version per write,
  // every writer's exactly once, each number newer than the one before.
  const contents = watcher.messages.map(
    (m) => (m.presence.statusMessage as { message: { content: string } }).message.content,
  );
  expect(watcher.messages).toHaveLength(APPLICATIONS);
  expect(new Set(contents)).toEqual(new Set(apps.map(({ id }) => `from ${id}`)));
  expectStrictlyIncreasing(watcher.messages);
  expect((watcher.messages[0] as WatchMessage).presence.sequenceNumber > start).toBe(true);
  // The last committed write is what everyone reads now.
  expect(final.statusMessage).toEqual((watcher.messages.at(-1) as WatchMessage).presence.statusMessage);
  report(
    check,
    `a watcher was sent ${watcher.messages.length} versions, one per writer, with ${new Set(watcher.messages.map((m) => m.presence.sequenceNumber)).size} distinct, strictly increasing sequenceNumbers; the last is what GET returns`,
  );
});
