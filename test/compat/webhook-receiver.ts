import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A webhook receiver written the way Microsoft's documentation describes one:
 * echo `validationToken` as text/plain, otherwise acknowledge notifications
 * with 202 and keep them.
 */
export async function startWebhookReceiver(
  /**
   * The status a notification POST gets (a receiver that is down answers 500), or "hold": no
   * answer at all (a delivery still in flight); 202 by default.
   */
  answer: (body: { value: Record<string, unknown>[] }) => number | "hold" = () => 202,
) {
  const notifications: {
    body: { value: Record<string, unknown>[] };
    receivedAt: number;
    status: number | "hold";
  }[] = [];
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
    const body = JSON.parse(text);
    const status = answer(body);
    notifications.push({ body, receivedAt: performance.now(), status });
    if (status !== "hold") response.writeHead(status).end();
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
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
