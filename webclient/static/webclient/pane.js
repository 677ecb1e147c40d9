// The side pane of the chat: a thread (its replies and a reply box), the pinned
// messages of the conversation, or search results. Methods of Chat (chat.js).

import { conversationPath, explain } from "./api.js";
import { Composer } from "./composer.js";
import { dayKey, formatDay, formatFull, formatTime, h, narrow, reconcile, renderMrkdwn, safeText } from "./render.js";
import { MessageList } from "./store.js";

const sameDay = (iso) => dayKey(iso) === dayKey(new Date().toISOString());

export class PaneMethods {
  async openThread(conv, rootId, { keepFocus = false } = {}) {
    const list = new MessageList();
    this.pane = { kind: "thread", conv, rootId, list };
    this.elements.set("thread", new Map());
    try {
      const root = this.lists.get(conv.id)?.get(rootId);
      if (root) list.upsert(root);
      let after = null;
      for (let page = 0; page < 20; page++) {
        const answer = await this.api.get(`${this.messagePath(conv, { id: rootId })}/replies`, { limit: 200, after });
        for (const m of answer.results) list.upsert(m);
        after = answer.after_cursor;
        if (!answer.has_more) break;
      }
    } catch (err) {
      this.toast(explain(err));
    }
    this.renderPane();
    if (!keepFocus) this.aside.querySelector("textarea")?.focus();
  }

  async openPins() {
    const conv = this.conversations.get(this.active);
    this.pane = { kind: "pins", conv, results: null };
    this.renderPane();
    try {
      const answer = await this.api.get(conversationPath(conv) + "/pins");
      this.pane.results = answer.results;
    } catch (err) {
      this.pane.results = [];
      this.toast(explain(err));
    }
    this.renderPane();
  }

  async openSearch(query) {
    if (!query.trim()) return;
    this.pane = { kind: "search", query, results: null };
    this.renderPane();
    try {
      const answer = await this.api.get("/search/messages", { q: query, limit: 50 });
      this.pane.results = answer.results;
    } catch (err) {
      this.pane.results = [];
      this.pane.error = explain(err);
    }
    this.renderPane();
  }

  // Where a search result is: #channel, or the DM's / group DM's name as the sidebar shows it.
  resultPlace(where) {
    if (where.kind === "channel") return `#${where.name}`;
    const conv = this.conversations.get(where.id);
    return conv ? this.title(conv) : where.name || "direct message";
  }

  closePane() {
    this.pane = null;
    this.aside.hidden = true;
    this.aside.replaceChildren();
  }

  renderPane() {
    if (!this.pane) return;
    const pane = this.pane;
    const close = h("button", { type: "button", class: "close", "aria-label": "Close the pane", onclick: () => this.closePane() }, "✕");
    this.aside.hidden = false;
    if (pane.kind === "thread") {
      this.aside.setAttribute("aria-label", "Thread");
      if (!this.threadParts || this.threadParts.pane !== pane) {
        const composer = new Composer(this, pane.conv, { threadId: pane.rootId });
        const messages = h("div", { class: "messages thread-messages", id: "thread-messages", role: "log", "aria-label": "Thread replies", "aria-describedby": "log-hint", tabindex: "0", onkeydown: (e) => this.logKeys(e) });
        this.threadParts = { pane, messages, composer };
        this.aside.replaceChildren(h("header", { class: "pane-header" }, h("h2", {}, "Thread"), close), messages, composer.el);
      }
      const items = pane.list.list().map((m) => ({ key: "s" + m.seq, version: this.versionOf(m), make: () => this.messageEl(m, "thread") }));
      for (const p of this.listOf(pane.conv.id).pendingList()) {
        if (p.thread_id === pane.rootId) items.push({ key: "p" + p.client_msg_id, version: p.state, make: () => this.pendingEl(p) });
      }
      reconcile(this.threadParts.messages, items, this.elements.get("thread"));
      return;
    }
    this.threadParts = null;
    const heading = pane.kind === "pins" ? "Pinned messages" : `Search: ${pane.query}`;
    this.aside.setAttribute("aria-label", heading);
    let body;
    if (pane.results === null) body = h("p", {}, "Loading…");
    else if (pane.error) body = h("p", { class: "form-error" }, pane.error);
    else if (!pane.results.length) body = h("p", {}, pane.kind === "pins" ? "Nothing is pinned here." : "No messages match.");
    else {
      body = h(
        "ul",
        { class: "results" },
        pane.results.map((row) => {
          const m = row.message || row;
          const where = row.conversation;
          return h(
            "li",
            {},
            h(
              "p",
              { class: "result-meta" },
              where ? h("a", { href: `#/c/${where.id}`, onclick: () => { if (narrow()) this.closePane(); } }, this.resultPlace(where)) : null,
              " ",
              h("span", { class: "author" }, safeText(this.userName(m.sender_id))),
              " ",
              h("time", { datetime: m.created_at, title: formatFull(m.created_at) }, sameDay(m.created_at) ? formatTime(m.created_at) : `${formatDay(m.created_at)}, ${formatTime(m.created_at)}`),
            ),
            h("div", { class: "content", dir: "auto" }, renderMrkdwn(m.content, this)),
          );
        }),
      );
    }
    this.aside.replaceChildren(h("header", { class: "pane-header" }, h("h2", {}, heading), close), body);
  }
}
