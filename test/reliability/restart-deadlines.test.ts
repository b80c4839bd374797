import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { startWebhookReceiver } from "../compat/webhook-receiver";
import { report, sleep, startRuntime } from "./runtime";
import { appToken, guid, secret } from "./tokens";

// A test-only configuration shortens the fade (production keeps D5's 5 and 10
// minutes); the status message simply expires a few seconds ahead.
const vars = {
  AUTH_HS256_SECRET: secret,
  NOTIFICATION_HTTP_HOSTS: "127.0.0.1",
  TEST_FADE_IDLE_AFTER_SECONDS: "4",
  TEST_FADE_AWAY_AFTER_SECONDS: "8",
};

function nextMessage(ws: WebSocket): Promise<{ presence: Record<string, unknown> & { sequenceNumber: string } }> {
  return new Promise((resolve) =>
    ws.addEventListener("message", (e) => resolve(JSON.parse(String(e.data))), { once: true }),
  );
}

it("honours deadlines that passed while the runtime was down, and tells webhooks and watchers", async () => {
  const check = "restart";
  const storage = await mkdtemp(join(tmpdir(), "presence-restart-"));
  const receiver = await startWebhookReceiver();
  const user = guid(0xde1);
  const app = guid(0xa1);
  const token = await appToken(app, ["Presence.ReadWrite.All", "Presence.Read.All"]);
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  try {
    const first = await startRuntime(storage, vars);
    const post = (path: string, body: unknown) =>
      fetch(`${first.url}/v1.0${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    const created = await post("/subscriptions", {
      changeType: "updated",
      notificationUrl: receiver.url,
      resource: `/communications/presences/${user}`,
      expirationDateTime: new Date(Date.now() + 50 * 60_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const setAt = Date.now();
    expect(
      (
        await post(`/users/${user}/presence/setPresence`, {
          sessionId: app,
          availability: "Available",
          activity: "Available",
        })
      ).status,
    ).toBe(200);
    const expiry = new Date(setAt + 6_000).toISOString().slice(0, 19);
    expect(
      (
        await post(`/users/${user}/presence/setStatusMessage`, {
          statusMessage: { message: { content: "back soon" }, expiryDateTime: { dateTime: expiry, timeZone: "UTC" } },
        })
      ).status,
    ).toBe(200);
    const watcher = new WebSocket(`${first.url.replace("http", "ws")}/v1.0/users/${user}/presence/watch`, [
      "presence.v1",
      `bearer.${token}`,
    ]);
    const before = (await nextMessage(watcher)).presence;
    expect(before).toMatchObject({ availability: "Available", statusMessage: { message: { content: "back soon" } } });
    await receiver.waitFor(2);
    const deliveredBefore = receiver.notifications.length;
    await first.kill();
    report(
      check,
      `presence Available (fades at +4 s, away at +8 s), status message expiring at +6 s; runtime killed at +${Date.now() - setAt} ms`,
    );

    await sleep(Math.max(0, setAt + 10_000 - Date.now()));
    const second = await startRuntime(storage, vars);
    try {
      report(check, `restarted at +${Date.now() - setAt} ms, past every deadline; no request is made for the user`);
      // Webhooks: the alarm, overdue across the restart, fires by itself and notifies.
      await receiver.waitFor(deliveredBefore + 1);
      report(check, `webhook notifications after the restart: ${receiver.notifications.length - deliveredBefore}`);
      // Watchers: a watcher that lost its socket resumes and is told what changed.
      const resumed = new WebSocket(
        `${second.url.replace("http", "ws")}/v1.0/users/${user}/presence/watch?since=${before.sequenceNumber}`,
        ["presence.v1", `bearer.${token}`],
      );
      const after = (await nextMessage(resumed)).presence;
      resumed.close();
      report(
        check,
        `resumed watcher got ${after.availability}/${after.activity}, statusMessage ${JSON.stringify(after.statusMessage)}, sequenceNumber ${before.sequenceNumber} -> ${after.sequenceNumber}`,
      );
      expect(after).toMatchObject({ availability: "Away", activity: "Away", statusMessage: null });
      expect(after.sequenceNumber > before.sequenceNumber).toBe(true);
    } finally {
      await second.kill();
    }
  } finally {
    await receiver.stop();
    await rm(storage, { recursive: true, force: true });
  }
});
