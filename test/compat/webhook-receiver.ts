import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A webhook receiver written the way Microsoft's documentation describes one:
 * echo `validationToken` as text/plain, otherwise acknowledge notifications
 * with 202 and keep them.
 */
export async function startWebhookReceiver() {
  const notifications: { body: { value: Record<string, unknown>[] }; receivedAt: number }[] = [];
  const waiters: (() => void)[] = [];
  const readBody = (request: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let text = "";
      request.on("data", (chunk) => {
        text += chunk;
      });
      request.on("end", () => resolve(text));
    });
  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const token = url.searchParams.get("validationToken");
    const text = await readBody(request);
    if (token !== null) {
      response.writeHead(200, { "content-type": "text/plain" }).end(token);
      return;
    }
    notifications.push({ body: JSON.parse(text), receivedAt: performance.now() });
    response.writeHead(202).end();
    for (const wake of waiters.splice(0)) wake();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notifications`,
    notifications,
    /** Resolves when `count` notification POSTs have arrived (bounded by the test timeout). */
    async waitFor(count: number) {
      while (notifications.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
      return notifications;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
