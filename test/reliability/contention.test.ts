import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { report, startRuntime } from "./runtime";
import { appToken, guid, secret } from "./tokens";

const APPLICATIONS = 200;

interface Seen {
  sequenceNumber: string;
  presence: string;
}

it("keeps every one of 200 simultaneous sessions on one user, with consistent sequence numbers", async () => {
  const check = "contention";
  const storage = await mkdtemp(join(tmpdir(), "presence-contention-"));
  const runtime = await startRuntime(storage, { AUTH_HS256_SECRET: secret });
  try {
    const user = guid(0xc0c0);
    const apps = await Promise.all(
      Array.from({ length: APPLICATIONS }, async (_, i) => {
        const id = guid(0x5000 + i);
        return { id, token: await appToken(id, ["Presence.ReadWrite.All"]) };
      }),
    );
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
      apps.map(async ({ id, token }, i) => {
        const [availability, activity] = pairs[i % pairs.length] as [string, string];
        const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
        const write = await fetch(`${runtime.url}/v1.0/users/${user}/presence/setPresence`, {
          method: "POST",
          headers,
          body: JSON.stringify({ sessionId: id, availability, activity, expirationDuration: "PT1H" }),
        });
        await write.arrayBuffer();
        const read = (await (await fetch(`${runtime.url}/v1.0/users/${user}/presence`, { headers })).json()) as Record<
          string,
          unknown
        > & {
          sequenceNumber: string;
        };
        const { sequenceNumber, ...presence } = read;
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
      `the writers saw ${versions.size} distinct versions; the same sequenceNumber always meant the same presence`,
    );
    // DoNotDisturb outranks everything (D4): once all are in, that is what shows.
    const final = [...versions.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).at(-1)?.[1] ?? "";
    expect(JSON.parse(final)).toMatchObject({ availability: "DoNotDisturb", activity: "Presenting" });

    // Every session exists: clearing each one succeeds (404 would mean it was lost).
    let cleared = 0;
    let previous = "";
    for (const { id, token } of apps) {
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const response = await fetch(`${runtime.url}/v1.0/users/${user}/presence/clearPresence`, {
        method: "POST",
        headers,
        body: JSON.stringify({ sessionId: id }),
      });
      if (response.status === 200) cleared++;
      const { sequenceNumber } = (await (
        await fetch(`${runtime.url}/v1.0/users/${user}/presence`, { headers })
      ).json()) as {
        sequenceNumber: string;
      };
      expect(sequenceNumber >= previous).toBe(true);
      previous = sequenceNumber;
    }
    report(
      check,
      `all ${cleared} of ${APPLICATIONS} sessions existed and were cleared one by one; sequenceNumber never went back`,
    );
    expect(cleared).toBe(APPLICATIONS);
  } finally {
    await runtime.kill();
    await rm(storage, { recursive: true, force: true });
  }
});
