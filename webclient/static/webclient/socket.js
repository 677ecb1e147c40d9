// The WebSocket: a single-use ticket from POST /realtime/ticket, then /ws/v1/?ticket=.
// Reconnects with backoff (and jitter) whenever the socket drops; every "hello" after
// the first is announced as a reconnect, so that the app catches up every open
// conversation with after_cursor. Close code 4401 (credential refused or revoked)
// stops it and signs out.

export class Socket extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.ws = null;
    this.stopped = false;
    this.connectedOnce = false;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.state = "connecting";
  }

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener("online", () => this.retryNow());
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.timer);
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    this.setState("connecting");
    let ticket;
    try {
      ticket = (await this.api.post("/realtime/ticket")).ticket;
    } catch (err) {
      if (err.status === 401) return; // the Api signs out
      this.scheduleReconnect();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/v1/?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (frame.type === "hello") {
        const reconnect = this.connectedOnce;
        this.connectedOnce = true;
        this.attempt = 0;
        this.setState("open");
        this.dispatchEvent(new CustomEvent(reconnect ? "reconnect" : "open", { detail: frame }));
      }
      this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      clearInterval(this.pinger);
      if (event.code === 4401) {
        this.setState("closed");
        this.dispatchEvent(new CustomEvent("unauthorized"));
        return;
      }
      this.scheduleReconnect();
    });
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.send({ type: "ping" }), 25000);
  }

  scheduleReconnect() {
    if (this.stopped) return;
    this.setState("offline");
    const delay = Math.min(10000, 250 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
