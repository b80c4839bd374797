import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

interface Env {
  BASELINE: DurableObjectNamespace<BaselineObject>;
}

/** A Durable Object that does the least each measured operation needs. */
export class BaselineObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT)");
  }

  constant(): number {
    return 1;
  }

  write(value: string): void {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO kv (k, v) VALUES (1, ?)", value);
  }

  /** Sends `message` to every socket this object holds. */
  broadcast(message: string): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }

  override async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
}

const app = new Hono<{ Bindings: Env }>();
// Read floor: a Hono route that calls a Durable Object RPC method returning a constant.
app.get("/read/:name", async (c) => c.json({ value: await c.env.BASELINE.getByName(c.req.param("name")).constant() }));
// Write floor: the same, writing one SQLite row.
app.post("/write/:name", async (c) => {
  await c.env.BASELINE.getByName(c.req.param("name")).write(String(Date.now()));
  return c.body(null, 200);
});
// Fan-out floor: 650 parallel no-op RPCs to 650 objects.
app.post("/rpc650", async (c) => {
  const values = await Promise.all(
    Array.from({ length: 650 }, (_, i) => c.env.BASELINE.getByName(`user-${i}`).constant()),
  );
  return c.json({ count: values.length });
});
// Fan-out floor: hibernatable sockets held by one object, and a route that sends them all one message.
app.get("/fanout", (c) => c.env.BASELINE.getByName("fanout").fetch(c.req.raw));
app.post("/fanout", async (c) => {
  await c.env.BASELINE.getByName("fanout").broadcast(await c.req.text());
  return c.body(null, 200);
});
// Webhook floor: one plain fetch from the Worker to the receiver.
app.post("/fetch", async (c) => {
  const { url } = await c.req.json<{ url: string }>();
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  await response.body?.cancel();
  return c.body(null, 200);
});

// Webhook floor for a popular user: one Worker making `count` POSTs at once, to `${url}${i}`.
app.post("/fetch-many", async (c) => {
  const { url, count } = await c.req.json<{ url: string; count: number }>();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const response = await fetch(`${url}${i}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      await response.body?.cancel();
    }),
  );
  return c.body(null, 200);
});

export default app;
