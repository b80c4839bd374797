// A share of the fan-out case's sockets, held in a worker thread of its own.
//
// 1,000 watchers are 1,000 machines in real life; one Node thread reading all
// their frames one after another would time its own queue as much as the
// service. Each thread holds a share, timestamps each message as it arrives
// (on the clock all threads share: timeOrigin + now) and keeps it for the main
// thread to check afterwards.
import { parentPort, workerData } from "node:worker_threads";

export type ToWatchers = { type: "arm" } | { type: "close" };
export type FromWatchers =
  | { type: "opened" }
  | { type: "armed" }
  | { type: "arrived"; arrivals: { socket: number; at: number; data: string }[] }
  | { type: "failed"; message: string };

const { url, tokens, count, subscribe } = workerData as {
  url: string;
  /** Sockets take these in turn (each application has its own D20 budget); none for the baseline. */
  tokens: string[];
  count: number;
  /** A multi-user socket subscribes to these users once open, and counts as opened once subscribed. */
  subscribe?: string[];
};
if (!parentPort) throw new Error("bench/watchers.ts runs as a worker thread");
const port = parentPort;

const now = () => performance.timeOrigin + performance.now();

const sockets: WebSocket[] = [];

/** Opens one socket (and subscribes it); it is kept at once, so that a failure elsewhere can still close it. */
function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const token = tokens[sockets.length % Math.max(1, tokens.length)];
    const ws = token ? new WebSocket(url, ["presence.v1", `bearer.${token}`]) : new WebSocket(url);
    sockets.push(ws);
    ws.addEventListener("error", () => reject(new Error(`could not open ${url}`)), { once: true });
    ws.addEventListener(
      "open",
      () => {
        if (!subscribe) return resolve();
        const onMessage = (event: MessageEvent) => {
          const message = JSON.parse(String(event.data)) as { type: string; message?: string };
          if (message.type === "subscribed") {
            ws.removeEventListener("message", onMessage);
            resolve();
          } else if (message.type === "error") reject(new Error(`subscribe refused: ${message.message}`));
        };
        ws.addEventListener("message", onMessage);
        ws.send(JSON.stringify({ type: "subscribe", ids: subscribe }));
      },
      { once: true },
    );
  });
}

/** Counts every socket's one message per armed round, and reports when all have theirs. */
function serve(): void {
  // Null between rounds: what arrives then (the snapshot on opening) is not measured.
  let arrivals: { socket: number; at: number; data: string }[] | null = null;
  sockets.forEach((ws, socket) => {
    ws.addEventListener("message", (event) => {
      const at = now();
      if (arrivals === null) return;
      // Only presence changes are timed; a multi-user socket's other frames are not one.
      if (subscribe && !String(event.data).startsWith('{"type":"presence"')) return;
      arrivals.push({ socket, at, data: String(event.data) });
      if (arrivals.length === sockets.length) {
        port.postMessage({ type: "arrived", arrivals } satisfies FromWatchers);
        arrivals = null;
      }
    });
  });
  port.on("message", (message: ToWatchers) => {
    if (message.type === "arm") {
      arrivals = [];
      port.postMessage({ type: "armed" } satisfies FromWatchers);
    } else {
      for (const ws of sockets) ws.close();
      port.close();
    }
  });
  port.postMessage({ type: "opened" } satisfies FromWatchers);
}

try {
  for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
  serve();
} catch (error) {
  // Nothing is left open, so the thread ends; the main thread reports the failure.
  for (const ws of sockets) ws.close();
  port.postMessage({
    type: "failed",
    message: error instanceof Error ? error.message : String(error),
  } satisfies FromWatchers);
  port.close();
}
