import { exports } from "cloudflare:workers";

type Message = Record<string, unknown> & { type: string };

/** A client end of a watch socket with a queue of what it received. */
export class TestSocket {
  private readonly queue: Message[] = [];
  private readonly waiting: ((m: Message) => void)[] = [];
  closed = false;
  /** The close code the server sent, once closed. */
  closeCode: number | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as Message;
      const waiter = this.waiting.shift();
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
    ws.addEventListener("close", (event) => {
      this.closed = true;
      this.closeCode = event.code;
    });
  }

  /** The next message, or a failure after `ms` (a bound on waiting, not a timing assertion). */
  next(ms = 5000): Promise<Message> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message arrived")), ms);
      this.waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  /** The next message of `type`, skipping others. */
  async nextOf(type: string, ms = 5000): Promise<Message> {
    for (;;) {
      const m = await this.next(ms);
      if (m.type === type) return m;
    }
  }

  /** Waits (bounded) until the server has closed the socket; returns the close code. */
  async whenClosed(ms = 5000): Promise<number | null> {
    const deadline = performance.now() + ms;
    while (!this.closed) {
      if (performance.now() > deadline) throw new Error("the socket was not closed");
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.closeCode;
  }

  /** Everything received so far, without waiting. */
  drain(): Message[] {
    return this.queue.splice(0);
  }

  send(data: unknown) {
    this.ws.send(typeof data === "string" ? data : JSON.stringify(data));
  }

  close() {
    this.ws.close(1000, "done");
  }
}

export async function openWatch(path: string, options: { token?: string; protocols?: string[] } = {}) {
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.protocols) headers["sec-websocket-protocol"] = options.protocols.join(", ");
  const response = await exports.default.fetch(new Request(`https://presence.test${path}`, { headers }));
  if (response.status !== 101 || !response.webSocket) return { response, socket: undefined };
  response.webSocket.accept();
  return { response, socket: new TestSocket(response.webSocket) };
}

/** Lets queued socket events and background work run. */
export const settleEvents = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));
