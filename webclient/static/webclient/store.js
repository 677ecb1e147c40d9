// One conversation's messages, keyed by seq (the contract's conversation order), plus
// the messages this client is sending (keyed by client_msg_id until the server gives
// them a seq). Whatever order pages, acks and live events arrive in, a message is
// kept once (by seq, and by id) and the list is always read in seq order.

export class MessageList {
  constructor() {
    this.bySeq = new Map();
    this.seqOfId = new Map();
    this.pending = new Map(); // client_msg_id -> {client_msg_id, content, state, ...}
    this.beforeCursor = null; // the page just older than what we hold
    this.afterCursor = null; // where catch-up resumes
    this.hasOlder = true;
    this.maxSeq = 0; // the highest seq that history (not only a live event) covered
    this.loaded = false;
  }

  // Stores a message from history, an ack or an event; a later edit wins over an older copy.
  upsert(message) {
    const known = this.bySeq.get(message.seq);
    if (known && known.edited_at && message.edited_at && known.edited_at > message.edited_at) return false;
    this.bySeq.set(message.seq, message);
    this.seqOfId.set(message.id, message.seq);
    if (message.client_msg_id) this.pending.delete(message.client_msg_id);
    return true;
  }

  get(id) {
    const seq = this.seqOfId.get(id);
    return seq === undefined ? null : this.bySeq.get(seq);
  }

  remove(id) {
    const seq = this.seqOfId.get(id);
    if (seq === undefined) return false;
    this.bySeq.delete(seq);
    this.seqOfId.delete(id);
    return true;
  }

  // A page of GET …/messages: older (before), newer (after), or the first (newest) page.
  addPage(page, direction) {
    for (const message of page.results) this.upsert(message);
    const top = page.results.length ? page.results[page.results.length - 1].seq : 0;
    if (direction === "first") {
      this.beforeCursor = page.before_cursor;
      this.afterCursor = page.after_cursor;
      this.hasOlder = page.has_more;
      this.maxSeq = Math.max(this.maxSeq, top);
      this.loaded = true;
    } else if (direction === "before") {
      this.beforeCursor = page.before_cursor;
      this.hasOlder = page.has_more;
    } else {
      this.afterCursor = page.after_cursor;
      this.maxSeq = Math.max(this.maxSeq, top);
    }
  }

  // A live message.created: true if it follows what we hold (append it), false on a
  // gap (seq beyond maxSeq + 1): then the caller catches up through history instead,
  // so a later message is never shown before an earlier one.
  acceptLive(message) {
    if (this.bySeq.has(message.seq)) {
      this.upsert(message);
      return true;
    }
    if (!this.loaded || message.seq > this.maxSeq + 1) return false;
    this.upsert(message);
    this.maxSeq = Math.max(this.maxSeq, message.seq);
    return true;
  }

  // Messages in seq order (optionally filtered), then the ones still being sent.
  list(filter = () => true) {
    const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
    return seqs.map((seq) => this.bySeq.get(seq)).filter(filter);
  }

  pendingList() {
    return [...this.pending.values()];
  }
}

// A fresh client_msg_id: printable ASCII, no spaces, at most 64 characters.
export function newClientMsgId() {
  if (crypto.randomUUID) return "web-" + crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
