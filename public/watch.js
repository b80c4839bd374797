// One multi-user watch socket (README: "Watch presence live"), kept open: it reconnects after a
// drop and resumes with the last sequenceNumber seen for each user, so only changes arrive.

const PROTOCOL = "presence.v1";
const HEARTBEAT_MS = 25_000;
const PONG_WAIT_MS = 10_000;
const MAX_DELAY_MS = 30_000;

export class PresenceWatch {
  /**
   * @param {object} options
   * @param {string} options.token
   * @param {(presence: object, changedDateTime: string | null) => void} options.onPresence
   * @param {(state: "connecting" | "live" | "reconnecting" | "stopped") => void} options.onState
   * @param {(message: string) => void} options.onError  a problem the service reported
   * @param {() => void} options.onExpired  the service closed the socket because its token ran out
   * @param {() => Promise<boolean>} options.mayReconnect  false stops for good (e.g. the token was refused)
   */
  constructor(options) {
    this.options = options;
    this.wanted = new Set();
    /** id -> the newest sequenceNumber seen (20-digit strings compare as numbers). */
    this.seen = new Map();
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeat = null;
    this.stopped = false;
    // Back online: retry now rather than at the end of the backoff.
    this.retryNow = () => {
      if (this.retryTimer !== null) this.connectSoon(0);
    };
  }

  start() {
    this.connect();
    window.addEventListener("online", this.retryNow);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    window.removeEventListener("online", this.retryNow);
    this.socket?.close(1000, "signed out");
    this.options.onState("stopped");
  }

  /** The users to watch; subscribes and unsubscribes the difference on an open socket. */
  watch(ids) {
    const next = new Set(ids);
    const added = [...next].filter((id) => !this.wanted.has(id));
    const removed = [...this.wanted].filter((id) => !next.has(id));
    this.wanted = next;
    for (const id of removed) this.seen.delete(id);
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    if (removed.length > 0) this.send({ type: "unsubscribe", ids: removed });
    if (added.length > 0) this.send({ type: "subscribe", ids: added });
  }

  connect() {
    if (this.stopped) return;
    this.retryTimer = null;
    this.options.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const url = new URL("/v1.0/communications/presences/watch", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url, [PROTOCOL, `bearer.${this.options.token}`]);
    this.socket = socket;
    let awaitingPong = false;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.options.onState("live");
      this.subscribeAll();
      this.heartbeat = setInterval(() => {
        // A connection that died without a close (sleep, network change) shows up as a missing pong.
        if (awaitingPong) return socket.close(4000, "no pong");
        awaitingPong = true;
        socket.send("ping");
        setTimeout(() => {
          if (awaitingPong) socket.close(4000, "no pong");
        }, PONG_WAIT_MS);
      }, HEARTBEAT_MS);
    });
    socket.addEventListener("message", (event) => {
      if (event.data === "pong") {
        awaitingPong = false;
        return;
      }
      this.receive(JSON.parse(event.data));
    });
    socket.addEventListener("close", () => {
      clearInterval(this.heartbeat);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.options.onState("reconnecting");
      this.afterDrop();
    });
  }

  /** On (re)connect: every wanted user at once, with what was seen, so only changes come back. */
  subscribeAll() {
    if (this.wanted.size === 0) return;
    const since = {};
    for (const id of this.wanted) {
      const seq = this.seen.get(id);
      if (seq !== undefined) since[id] = seq;
    }
    this.send({ type: "subscribe", ids: [...this.wanted], ...(Object.keys(since).length > 0 ? { since } : {}) });
  }

  receive(message) {
    if (message.type === "presence") {
      const { presence, changedDateTime } = message;
      if (!this.wanted.has(presence.id)) return;
      const seen = this.seen.get(presence.id);
      if (seen !== undefined && presence.sequenceNumber <= seen) return;
      this.seen.set(presence.id, presence.sequenceNumber);
      this.options.onPresence(presence, changedDateTime ?? null);
    } else if (message.type === "error" && message.code === "tokenExpired") {
      // The socket lives no longer than its token (D27): the service closes it next.
      this.stopped = true;
      this.options.onExpired();
    } else if (message.type === "error") {
      this.options.onError(message.message);
    }
  }

  /**
   * A fresh token for the same user: the open socket lives on with it (D27), and a reconnect
   * uses it. The service answers `reauthorized`, or an error that onError shows.
   */
  reauthorize(token) {
    this.options.token = token;
    if (this.socket?.readyState === WebSocket.OPEN) this.send({ type: "reauthorize", token });
  }

  async afterDrop() {
    if (!(await this.options.mayReconnect())) return this.stop();
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... at most 30 s.
    const delay = Math.min(MAX_DELAY_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.connectSoon(delay);
  }

  connectSoon(delay) {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    this.socket.send(JSON.stringify(message));
  }
}
