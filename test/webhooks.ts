import { vi } from "vitest";

export interface Received {
  url: URL;
  body: Record<string, unknown> & { value: Record<string, unknown>[]; validationTokens?: string[] | null };
}

type Behaviour = "echo" | "wrong-echo" | "slow" | "unreachable" | "fail" | "ok";

/**
 * A webhook receiver standing in for a subscriber's endpoint: the Worker's
 * outbound fetch (same isolate as the tests) is routed here for the test
 * hosts. It answers the validation handshake and records notifications.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  readonly handshakes: URL[] = [];
  handshake: Behaviour = "echo";
  /** What the next notification POSTs get, one entry each; then `otherwise`. */
  readonly script: Behaviour[] = [];
  /** What notification POSTs get once the script has run out ("fail": a receiver that is down). */
  otherwise: Behaviour = "ok";
  private readonly realFetch = globalThis.fetch;

  install() {
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => this.handle(new Request(input, init)));
    return this;
  }

  private async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.hostname !== "receiver.test" && url.hostname !== "lifecycle.test") return this.realFetch(request);
    const token = url.searchParams.get("validationToken");
    const behaviour = token !== null ? this.handshake : (this.script.shift() ?? this.otherwise);
    if (behaviour === "unreachable") throw new TypeError("Network connection lost.");
    if (behaviour === "slow") {
      // Answers only when the caller gives up.
      return new Promise((_resolve, reject) =>
        request.signal.addEventListener("abort", () => reject(request.signal.reason)),
      );
    }
    if (token !== null) {
      this.handshakes.push(url);
      const text = behaviour === "wrong-echo" ? `${token}!` : token;
      return new Response(text, { status: 200, headers: { "content-type": "text/plain" } });
    }
    const body = (await request.json()) as Received["body"];
    this.received.push({ url, body });
    return new Response(null, { status: behaviour === "fail" ? 500 : 202 });
  }

  /** Waits (bounded) until `count` notification POSTs have arrived. */
  async waitFor(count: number, ms = 15_000): Promise<Received[]> {
    const deadline = performance.now() + ms;
    while (this.received.length < count) {
      if (performance.now() > deadline) throw new Error(`expected ${count} notifications, got ${this.received.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.received;
  }

  items(): Record<string, unknown>[] {
    return this.received.flatMap((r) => r.body.value);
  }
}
