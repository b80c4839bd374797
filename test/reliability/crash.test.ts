import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { report, sleep, startRuntime } from "./runtime";
import { appToken, guid, secret } from "./tokens";

const CLIENTS = 20;
const USERS_PER_CLIENT = 10;
const WRITING_MS = 8_000;

it("loses no acknowledged write when the runtime is killed mid-load", async () => {
  const check = "crash";
  const storage = await mkdtemp(join(tmpdir(), "presence-crash-"));
  try {
    const first = await startRuntime(storage, { AUTH_HS256_SECRET: secret });
    const token = await appToken(guid(0xc1), ["Presence.ReadWrite.All"]);
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    // Each client owns its users, so "the last write acknowledged" is well defined per user.
    const acknowledged = new Map<string, number>();
    const highestSeen = new Map<string, string>();
    let stopped = false;
    let acks = 0;
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let n = 0; !stopped; n++) {
        const user = guid(0x1000 + c * USERS_PER_CLIENT + (n % USERS_PER_CLIENT));
        const next = (acknowledged.get(user) ?? 0) + 1;
        try {
          const write = await fetch(`${first.url}/v1.0/users/${user}/presence/setStatusMessage`, {
            method: "POST",
            headers,
            body: JSON.stringify({ statusMessage: { message: { content: String(next) } } }),
          });
          if (write.status !== 200) throw new Error(`write answered ${write.status}`);
          acknowledged.set(user, next);
          acks++;
          const read = await fetch(`${first.url}/v1.0/users/${user}/presence`, { headers });
          const { sequenceNumber } = (await read.json()) as { sequenceNumber: string };
          if (sequenceNumber > (highestSeen.get(user) ?? "")) highestSeen.set(user, sequenceNumber);
        } catch {
          return; // the runtime is gone
        }
      }
    });
    await sleep(WRITING_MS);
    await first.kill();
    stopped = true;
    await Promise.all(clients);
    report(
      check,
      `${CLIENTS} clients wrote status messages for ${acknowledged.size} users; ${acks} writes acknowledged; runtime killed with SIGKILL`,
    );
    expect(acks).toBeGreaterThan(CLIENTS);

    const second = await startRuntime(storage, { AUTH_HS256_SECRET: secret });
    try {
      const problems: string[] = [];
      for (const [user, last] of acknowledged) {
        const read = await fetch(`${second.url}/v1.0/users/${user}/presence`, { headers });
        const presence = (await read.json()) as {
          sequenceNumber: string;
          statusMessage: { message: { content: string } } | null;
        };
        const visible = Number(presence.statusMessage?.message.content ?? 0);
        // The acknowledged write, or the one in flight at the kill, which may have landed too.
        if (visible !== last && visible !== last + 1)
          problems.push(`${user}: acknowledged ${last}, visible ${visible}`);
        const seen = highestSeen.get(user) ?? "";
        if (presence.sequenceNumber < seen)
          problems.push(`${user}: sequenceNumber ${presence.sequenceNumber} < ${seen} seen before`);
      }
      report(
        check,
        `after restart on the same storage: ${acknowledged.size} users checked, ${problems.length} problems`,
      );
      for (const p of problems) report(check, `  ${p}`);
      expect(problems).toEqual([]);
    } finally {
      await second.kill();
    }
  } finally {
    await rm(storage, { recursive: true, force: true });
  }
});
