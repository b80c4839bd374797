import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { readConfig } from "../../src/config";
import { checkNotificationUrl } from "../../src/domain/notification-urls";
import worker from "../../src/index";
import type { NotificationJob } from "../../src/notifications/jobs";
import { APP, appToken, call, callWith, expectGraphError, newUserId, TENANT } from "../helpers";

/** NOTIFICATION_HTTP_HOSTS as the service reads it. */
const trustedHosts = (setting: string) =>
  readConfig({ ...env, NOTIFICATION_HTTP_HOSTS: setting }).notificationHttpHosts;

// D25: calls to receivers never follow redirects, never reach private
// addresses that an operator did not allow, and a validation handshake reads
// at most 4 KiB within its time budget, failing with one neutral message.

const MIN = 60_000;
/** Where a hostile receiver points its redirects: an internal address that never agreed to receive anything. */
const INTERNAL = "127.0.0.1:9";

type Answer = (request: Request) => Response | Promise<Response>;
interface Hit {
  url: URL;
  method: string;
  body: string;
}

/**
 * The network as the Worker sees it, per host. Like workerd's fetch, it hands
 * a 3xx back as it is when the caller asked for `redirect: "manual"` and
 * follows it otherwise (307/308 keep the method and body), so code that
 * forgets to ask is caught.
 */
class Network {
  readonly hosts = new Map<string, Answer>();
  readonly hits: Hit[] = [];

  install() {
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => this.fetch(new Request(input, init)));
    return this;
  }

  hitsOn(host: string): Hit[] {
    return this.hits.filter((hit) => hit.url.host === host);
  }

  private async fetch(request: Request, hops = 0): Promise<Response> {
    const url = new URL(request.url);
    const answer = this.hosts.get(url.host);
    if (!answer) throw new TypeError("Network connection lost.");
    const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    this.hits.push({ url, method: request.method, body });
    const copy = new Request(url, {
      method: request.method,
      headers: request.headers,
      body: body === "" ? undefined : body,
      signal: request.signal,
    });
    const response = await answer(copy);
    const location = response.headers.get("location");
    if (response.status < 300 || response.status > 399 || location === null || request.redirect === "manual") {
      return response;
    }
    if (hops >= 20) throw new TypeError("Too many redirects.");
    const keep = response.status === 307 || response.status === 308;
    return this.fetch(
      new Request(new URL(location, url), {
        method: keep ? request.method : "GET",
        headers: request.headers,
        body: keep && body !== "" ? body : undefined,
        signal: request.signal,
      }),
      hops + 1,
    );
  }
}

/** A receiver that answers the handshake properly and every notification with 202. */
const honest: Answer = async (request) => {
  const token = new URL(request.url).searchParams.get("validationToken");
  if (token !== null) return new Response(token, { headers: { "content-type": "text/plain" } });
  return new Response(null, { status: 202 });
};

/** Answers like a redirect: to the internal address, keeping the validationToken so it could echo. */
const redirecting =
  (status: number): Answer =>
  (request) => {
    const token = new URL(request.url).searchParams.get("validationToken");
    const target = `http://${INTERNAL}/internal?secret=1${token === null ? "" : `&validationToken=${encodeURIComponent(token)}`}`;
    return new Response(null, { status, headers: { location: target } });
  };

let network: Network;
beforeEach(() => {
  network = new Network().install();
  network.hosts.set("receiver.test", honest);
  // The internal service would answer anything it is sent, handshake included.
  network.hosts.set(INTERNAL, honest);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const inMinutes = (m: number) => new Date(Date.now() + m * MIN).toISOString();
const subscriber = () => appToken(["Presence.Read.All"]);

function subscription(user: string, extra: Record<string, unknown> = {}) {
  return {
    changeType: "updated",
    notificationUrl: "http://receiver.test/hook",
    resource: `/communications/presences/${user}`,
    expirationDateTime: inMinutes(50),
    clientState: "secret-state",
    ...extra,
  };
}

const create = async (body: Record<string, unknown>, token?: string) =>
  call(`/v1.0/subscriptions`, { method: "POST", token: token ?? (await subscriber()), body });

async function listedFor(user: string, token?: string): Promise<unknown[]> {
  const list = (await (await call(`/v1.0/subscriptions`, { token: token ?? (await subscriber()) })).json()) as {
    value: { resource: string }[];
  };
  return list.value.filter((s) => s.resource.includes(user));
}

const NEUTRAL =
  "Subscription validation request failed. The notification endpoint must answer the validation request with 200 and the validationToken as text/plain within 0.3 seconds.";

describe("redirects are never followed (D25)", () => {
  it.each([301, 302, 303, 307, 308])(
    "a handshake answered with %i fails with 400 InvalidRequest, and the redirect target gets nothing",
    async (status) => {
      network.hosts.set("receiver.test", redirecting(status));
      const user = newUserId();
      await expectGraphError(await create(subscription(user)), 400, "InvalidRequest", NEUTRAL);
      expect(network.hitsOn(INTERNAL)).toEqual([]);
      expect(await listedFor(user)).toEqual([]);
    },
  );

  it("a lifecycle URL whose handshake redirects fails the creation too", async () => {
    network.hosts.set("lifecycle.test", redirecting(307));
    const user = newUserId();
    await expectGraphError(
      await create(subscription(user, { lifecycleNotificationUrl: "http://lifecycle.test/events" })),
      400,
      "InvalidRequest",
      NEUTRAL,
    );
    expect(network.hitsOn(INTERNAL)).toEqual([]);
    expect(await listedFor(user)).toEqual([]);
  });

  it("a PATCH to a URL whose handshake redirects fails and keeps the old URL", async () => {
    const token = await subscriber();
    const created = (await (await create(subscription(newUserId()), token)).json()) as { id: string };
    network.hosts.set("receiver.test", redirecting(307));
    await expectGraphError(
      await call(`/v1.0/subscriptions/${created.id}`, {
        method: "PATCH",
        token,
        body: { notificationUrl: "http://receiver.test/moved" },
      }),
      400,
      "InvalidRequest",
      NEUTRAL,
    );
    expect(network.hitsOn(INTERNAL)).toEqual([]);
    const current = (await (await call(`/v1.0/subscriptions/${created.id}`, { token })).json()) as {
      notificationUrl: string;
    };
    expect(current.notificationUrl).toBe("http://receiver.test/hook");
  });

  async function deliver(kind: NotificationJob["kind"]) {
    const user = newUserId();
    const created = (await (
      await create(subscription(user, { lifecycleNotificationUrl: "http://receiver.test/lifecycle" }))
    ).json()) as { id: string };
    expect(created.id).toBeTypeOf("string");
    // Only now does the receiver turn hostile: every notification POST is redirected.
    network.hosts.set("receiver.test", redirecting(307));
    const job: NotificationJob =
      kind === "change"
        ? {
            kind,
            tenantId: TENANT,
            userId: user,
            sequenceNumber: "00000000000000000001",
            views: {},
            items: [{ subscriptionId: created.id, appId: APP, audience: "other" }],
            firstAttemptAt: Date.now(),
          }
        : {
            kind: "lifecycle",
            tenantId: TENANT,
            appId: APP,
            subscriptionId: created.id,
            lifecycleEvent: "reauthorizationRequired",
            firstAttemptAt: Date.now(),
          };
    const batch = createMessageBatch<NotificationJob>("presence-notifications", [
      { id: "m1", timestamp: Date.now(), attempts: 1, body: job },
    ]);
    const retry = vi.spyOn(batch.messages[0] as Message<NotificationJob>, "retry");
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, ctx);
    return { acks: result.explicitAcks, retried: retry.mock.calls.length };
  }

  it.each(["change", "lifecycle"] as const)(
    "a %s notification answered with 307 is retried like any failure and never POSTed to the Location",
    async (kind) => {
      const { acks, retried } = await deliver(kind);
      expect(acks).toEqual([]);
      expect(retried).toBe(1);
      expect(network.hitsOn(INTERNAL)).toEqual([]);
      // The receiver itself was asked once: the notification did leave.
      expect(network.hitsOn("receiver.test").filter((hit) => hit.method === "POST" && hit.body !== "")).toHaveLength(1);
    },
  );
});

describe("private addresses are refused at subscribe time (D25)", () => {
  const hosts = trustedHosts("receiver.test,lifecycle.test");
  const refused = [
    "https://127.0.0.1:8443/hook",
    "https://127.255.255.254/",
    "https://0.0.0.0/",
    "https://0.1.2.3/",
    "https://10.1.2.3/",
    "https://100.64.0.1/",
    "https://100.127.255.255/",
    "https://169.254.169.254/latest/meta-data",
    "https://172.16.0.1/",
    "https://172.31.255.255/",
    "https://192.168.1.1/",
    "https://255.255.255.255/",
    "https://[::]/",
    "https://[::1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fe80::1]/",
    "https://[febf::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/",
    // The WHATWG URL parser reads these as 127.0.0.1.
    "https://2130706433/",
    "https://0x7f.1/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://127.0.0.1./",
    "https://localhost/",
    "https://LOCALHOST:8443/",
    "https://localhost./",
    "https://api.localhost/",
    "http://127.0.0.1:8787/",
  ];
  it.each(refused)("refuses %s", (url) => {
    expect(() => checkNotificationUrl("notificationUrl", url, hosts)).toThrow(
      /notificationUrl must not point at a loopback, private or link-local address/,
    );
  });

  it.each([
    "https://hooks.contoso.com/x",
    "https://8.8.8.8/",
    "https://172.32.0.1/",
    "https://100.128.0.1/",
    "https://[2606:4700::1111]/",
    "https://localhost.contoso.com/",
    "https://mylocalhost/",
    "http://receiver.test/hook",
  ])("accepts %s", (url) => {
    expect(checkNotificationUrl("notificationUrl", url, hosts)).toBe(new URL(url).toString());
  });

  it("accepts a private host the operator listed, over http and https", () => {
    const listed = trustedHosts("127.0.0.1, [::1], localhost");
    for (const url of ["http://127.0.0.1:8787/hook", "https://127.0.0.1/", "https://[::1]/", "https://localhost/"]) {
      expect(checkNotificationUrl("notificationUrl", url, listed)).toBe(new URL(url).toString());
    }
    expect(checkNotificationUrl("notificationUrl", "https://[::1]/", trustedHosts("::1"))).toBe("https://[::1]/");
    // Listing one address allows that one only, not its neighbours or other spellings of a range.
    expect(() => checkNotificationUrl("notificationUrl", "https://127.0.0.2/", listed)).toThrow(/loopback/);
  });

  it.each([
    ["notificationUrl", { notificationUrl: `https://${INTERNAL}/hook` }],
    ["notificationUrl", { notificationUrl: "https://2130706433/hook" }],
    ["notificationUrl", { notificationUrl: "https://[::ffff:7f00:1]/hook" }],
    ["lifecycleNotificationUrl", { lifecycleNotificationUrl: "https://169.254.169.254/" }],
    ["lifecycleNotificationUrl", { lifecycleNotificationUrl: "https://localhost/" }],
  ])("a POST with a private %s is 400 before any handshake", async (name, change) => {
    const user = newUserId();
    await expectGraphError(
      await create(subscription(user, change)),
      400,
      "BadRequest",
      `${name} must not point at a loopback, private or link-local address`,
    );
    expect(network.hits).toEqual([]);
    expect(await listedFor(user)).toEqual([]);
  });

  it("a PATCH to a private notificationUrl is 400 and changes nothing", async () => {
    const token = await subscriber();
    const created = (await (await create(subscription(newUserId()), token)).json()) as { id: string };
    const before = network.hits.length;
    await expectGraphError(
      await call(`/v1.0/subscriptions/${created.id}`, {
        method: "PATCH",
        token,
        body: { notificationUrl: "https://10.0.0.1/hook" },
      }),
      400,
      "BadRequest",
      /loopback, private or link-local/,
    );
    expect(network.hits).toHaveLength(before);
    const current = (await (await call(`/v1.0/subscriptions/${created.id}`, { token })).json()) as {
      notificationUrl: string;
    };
    expect(current.notificationUrl).toBe("http://receiver.test/hook");
  });

  it("an operator's NOTIFICATION_HTTP_HOSTS lets a private receiver subscribe", async () => {
    const user = newUserId();
    const response = await callWith({ NOTIFICATION_HTTP_HOSTS: "127.0.0.1" }, `/v1.0/subscriptions`, {
      method: "POST",
      token: await subscriber(),
      body: subscription(user, { notificationUrl: `https://${INTERNAL}/hook` }),
    });
    expect(response.status).toBe(201);
    expect(network.hitsOn(INTERNAL)).toHaveLength(1);
  });
});

describe("the handshake is bounded (D25)", () => {
  /** A 200 whose body never ends; `honourAbort` says whether aborting the fetch errors it, as workerd's does. */
  const stalling =
    (honourAbort: boolean): Answer =>
    (request) =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("Validation"));
            if (honourAbort) request.signal.addEventListener("abort", () => controller.error(request.signal.reason));
          },
        }),
        { headers: { "content-type": "text/plain" } },
      );

  it.each([
    ["errors its body when the fetch is aborted", true],
    ["ignores the abort", false],
  ])(
    "a receiver that sends headers and then stalls the body (and %s) gets 400, not 500",
    async (_name, honourAbort) => {
      network.hosts.set("receiver.test", stalling(honourAbort as boolean));
      const user = newUserId();
      await expectGraphError(await create(subscription(user)), 400, "InvalidRequest", NEUTRAL);
      expect(await listedFor(user)).toEqual([]);
    },
    5_000,
  );

  it("stops reading a huge answer at 4 KiB and fails", async () => {
    let pulled = 0;
    const chunk = new Uint8Array(16 * 1024).fill(0x41);
    network.hosts.set(
      "receiver.test",
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (pulled >= 100 * 1024 * 1024) return controller.close();
              pulled += chunk.byteLength;
              controller.enqueue(chunk);
            },
          }),
          { headers: { "content-type": "text/plain" } },
        ),
    );
    const user = newUserId();
    const response = await create(subscription(user));
    // One chunk past the limit, and what the stream buffered ahead: nowhere near 100 MB.
    expect(pulled).toBeLessThanOrEqual(4 * chunk.byteLength);
    await expectGraphError(response, 400, "InvalidRequest", NEUTRAL);
    expect(await listedFor(user)).toEqual([]);
  });

  it("accepts an echo with trailing whitespace well inside 4 KiB, and refuses the token padded past 4 KiB", async () => {
    const padded =
      (padding: string): Answer =>
      (request) =>
        new Response(`${new URL(request.url).searchParams.get("validationToken")}${padding}`, {
          headers: { "content-type": "text/plain" },
        });
    network.hosts.set("receiver.test", padded("\r\n"));
    expect((await create(subscription(newUserId()))).status).toBe(201);
    network.hosts.set("receiver.test", padded(" ".repeat(4096)));
    await expectGraphError(await create(subscription(newUserId())), 400, "InvalidRequest", NEUTRAL);
  });

  it("answers every kind of failure with the same message, so the answer tells nothing about the network", async () => {
    const failures: Record<string, Answer> = {
      timeout: (request) =>
        new Promise((_resolve, reject) =>
          request.signal.addEventListener("abort", () => reject(request.signal.reason)),
        ),
      refused: () => Promise.reject(new TypeError("Network connection lost.")),
      "404": () => new Response("not here", { status: 404 }),
      "500": () => new Response(null, { status: 500 }),
      "204": () => new Response(null, { status: 204 }),
      "302": redirecting(302),
      "wrong echo": () => new Response("nope", { headers: { "content-type": "text/plain" } }),
      "too large": () => new Response("x".repeat(5000), { headers: { "content-type": "text/plain" } }),
    };
    const messages = new Set<string>();
    for (const [name, answer] of Object.entries(failures)) {
      network.hosts.set("receiver.test", answer);
      const error = await expectGraphError(await create(subscription(newUserId())), 400, "InvalidRequest");
      messages.add(`${error.message}`);
      expect(error.message, name).toBe(NEUTRAL);
    }
    expect([...messages]).toEqual([NEUTRAL]);
  });
});
