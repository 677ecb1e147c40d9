// The chat: sidebar, conversation, thread / pins / search pane, dialogs.
// State lives here (conversations, users, presence, one MessageList per opened
// conversation); the DOM is rebuilt from it, message elements reused by key.

import { conversationPath, explain } from "./api.js";
import { Socket } from "./socket.js";
import { MessageList, newClientMsgId } from "./store.js";
import { dayKey, formatDay, formatFull, formatTime, h, narrow, reconcile, renderMrkdwn, safeText } from "./render.js";
import { Composer } from "./composer.js";
import { PaneMethods } from "./pane.js";
import { DialogMethods } from "./dialogs.js";

const PALETTE = ["👍", "❤️", "😄", "🎉", "👀", "🚀", "✅", "🙏"];
const MAIN_VIEW = (m) => !m.thread_id || m.also_in_channel;

function convKey(frame) {
  const m = frame.message || frame;
  return m.channel_id || m.conversation_id || m.root_channel_id || null;
}

export class Chat {
  constructor({ api, root, onSignOut, onSwitch }) {
    this.api = api;
    this.root = root;
    this.onSignOut = onSignOut;
    this.onSwitch = onSwitch;
    this.conversations = new Map();
    this.users = new Map();
    this.presence = new Map();
    this.lists = new Map();
    this.elements = new Map(); // "main" | "thread" -> Map key -> {el, version}
    this.active = null;
    this.pane = null; // {kind: "thread" | "pins" | "search", ...}
    this.typing = new Map(); // user id -> timeout
    this.serverUnreads = false; // the server keeps read state (issue 18 is deployed)
    this.serverNotifications = false;
    this.socket = new Socket(api);
    this.onHash = () => this.route();
    this.onVisible = () => this.maybeMarkRead();
  }

  // ---- lifecycle -------------------------------------------------------------------

  async start() {
    const [me, workspace, workspaces] = await Promise.all([
      this.api.get("/users/me"),
      this.api.get("/workspace").catch(() => null),
      this.api.get("/workspaces").catch(() => null),
    ]);
    this.me = me;
    this.users.set(me.id, me);
    this.workspace = workspace;
    this.workspaces = workspaces ? workspaces.results || workspaces : [];
    // Read state (issue 18) is served where GET /unreads is; elsewhere the sidebar's
    // counts are placeholders and the client counts by itself.
    this.serverUnreads = await this.api.get("/unreads").then(() => true, () => false);
    this.serverNotifications = this.serverUnreads; // the same issue brings `notification` events
    this.buildLayout();
    await this.loadConversations();
    this.socket.addEventListener("frame", (e) => this.onFrame(e.detail));
    this.socket.addEventListener("reconnect", () => this.onReconnect());
    this.socket.addEventListener("state", (e) => this.showConnection(e.detail));
    this.socket.addEventListener("unauthorized", () => this.onSignOut());
    this.socket.start();
    window.addEventListener("hashchange", this.onHash);
    document.addEventListener("visibilitychange", this.onVisible);
    this.root.removeAttribute("aria-busy");
    this.route();
  }

  stop() {
    this.socket.stop();
    window.removeEventListener("hashchange", this.onHash);
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  // ---- layout ----------------------------------------------------------------------

  buildLayout() {
    this.root.replaceChildren();
    const switcher = h("select", { id: "workspace-switch", "aria-label": "Workspace", onchange: (e) => this.switchWorkspace(e.target.value) });
    for (const ws of this.workspaces) {
      switcher.append(h("option", { value: ws.slug, selected: this.workspace && ws.slug === this.workspace.slug }, ws.name || ws.slug));
    }
    this.searchInput = h("input", { type: "search", id: "search-input", name: "q", placeholder: "Search (from:@ana in:#ops has:link)", "aria-label": "Search messages" });
    const searchForm = h("form", { role: "search", class: "search", onsubmit: (e) => { e.preventDefault(); this.openSearch(this.searchInput.value); } }, this.searchInput);
    this.connection = h("span", { class: "connection", role: "status", "aria-live": "polite" });
    const notify = "Notification" in window && Notification.permission === "default"
      ? h("button", { type: "button", class: "link", onclick: (e) => { Notification.requestPermission(); e.target.remove(); } }, "Enable notifications")
      : null;
    this.header = h(
      "header",
      { class: "topbar", role: "banner" },
      h("button", { type: "button", class: "menu-toggle", "aria-controls": "sidebar", "aria-expanded": "false", onclick: (e) => this.toggleSidebar(e.currentTarget) }, "☰", h("span", { class: "visually-hidden" }, "Conversations")),
      h("h1", { class: "brand" }, "slackclone"),
      this.workspaces.length > 1 ? switcher : h("span", { class: "workspace-name" }, this.workspace ? this.workspace.name : ""),
      searchForm,
      this.connection,
      notify,
      h("span", { class: "me", id: "me" }, safeText(this.me.display_name || this.me.username)),
      h("button", { type: "button", class: "link", id: "sign-out", onclick: () => this.signOut() }, "Sign out"),
    );
    this.sidebar = h("nav", { id: "sidebar", class: "sidebar", "aria-label": "Conversations" });
    this.main = h("main", { id: "main", class: "conversation", "aria-label": "Conversation" }, h("p", { class: "empty" }, "Pick a conversation."));
    this.aside = h("aside", { class: "pane", id: "pane", hidden: true });
    this.root.append(this.header, h("div", { class: "layout" }, this.sidebar, this.main, this.aside));
  }

  toggleSidebar(button) {
    const open = this.sidebar.classList.toggle("open");
    button.setAttribute("aria-expanded", String(open));
  }

  showConnection(state) {
    const text = { open: "", connecting: "Connecting…", offline: "Offline: reconnecting…", closed: "Disconnected" }[state];
    this.connection.textContent = text;
    this.connection.dataset.state = state;
  }

  announce(text) {
    const region = document.getElementById("announcer");
    region.textContent = "";
    region.textContent = text; // re-set so that repeats are read too
  }

  toast(text) {
    const el = h("div", { class: "toast", role: "alert" }, text);
    document.body.append(el);
    setTimeout(() => el.remove(), 6000);
  }

  async signOut() {
    try {
      await this.api.post("/auth/logout");
    } catch (err) {
      // the token is forgotten either way
    }
    this.onSignOut();
  }

  async switchWorkspace(slug) {
    try {
      const answer = await this.api.post("/auth/switch", { workspace: slug });
      location.hash = "";
      this.onSwitch(answer.token);
    } catch (err) {
      this.toast(explain(err));
    }
  }

  // ---- users and presence -------------------------------------------------------------

  userName(id) {
    const user = this.users.get(id);
    if (user) return user.display_name || user.username;
    this.fetchUser(id);
    return "…";
  }

  fetchUser(id) {
    if (this.users.has(id) || this.fetching?.has(id)) return;
    this.fetching = this.fetching || new Set();
    this.fetching.add(id);
    this.api.get(`/users/${id}`).then((user) => {
      this.users.set(id, user);
      this.renderMessages();
      this.renderPane();
    }).catch(() => {}).finally(() => this.fetching.delete(id));
  }

  remember(users) {
    for (const user of users) if (user && user.id) this.users.set(user.id, user);
  }

  async loadPresence(ids) {
    const wanted = [...new Set(ids)].filter((id) => id && id !== this.me.id);
    for (let i = 0; i < wanted.length; i += 50) {
      try {
        const answer = await this.api.get("/presence", { user_ids: wanted.slice(i, i + 50).join(",") });
        for (const row of answer.results) this.presence.set(row.user_id, row.status);
      } catch (err) {
        return;
      }
    }
    this.renderSidebar();
  }

  presenceDot(userId) {
    const status = this.presence.get(userId) || "offline";
    return h("span", { class: `presence ${status}`, role: "img", "aria-label": status, title: status });
  }

  // ---- the sidebar --------------------------------------------------------------------

  async loadConversations() {
    let rows;
    try {
      rows = await this.api.all("/conversations");
    } catch (err) {
      if (err.status !== 404) throw err;
      rows = await this.loadConversationsV1(); // a server without GET /conversations
    }
    const previous = this.conversations;
    this.conversations = new Map();
    for (const row of rows) {
      const old = previous.get(row.id);
      const conv = { unread_count: 0, mention_count: 0, muted: false, last_read_seq: null, ...row };
      if (!this.serverUnreads) {
        Object.assign(conv, { unread_count: 0, mention_count: 0, last_read_seq: null });
        if (old) Object.assign(conv, { unread_count: old.unread_count, mention_count: old.mention_count, last_read_seq: old.last_read_seq });
      }
      this.conversations.set(conv.id, conv);
      if (conv.other_user) this.remember([conv.other_user]);
      if (conv.members) this.remember(conv.members);
    }
    this.renderSidebar();
    const people = [...this.conversations.values()].flatMap((c) => [c.other_user?.id, ...(c.members || []).map((m) => m.id)]);
    this.loadPresence(people);
  }

  async loadConversationsV1() {
    const [channels, dms, groups] = await Promise.all([
      this.api.all("/channels", { member: "true" }),
      this.api.all("/dms"),
      this.api.all("/group-dms").catch(() => []),
    ]);
    return [
      ...channels.map((c) => ({ kind: "channel", id: c.id, name: c.name, is_private: !!c.is_private, latest: null })),
      ...dms.map((d) => ({ kind: "dm", id: d.id, other_user: d.other_user, is_private: true, latest: null })),
      ...groups.map((g) => ({ kind: "group_dm", id: g.id, members: g.members, is_private: true, latest: null })),
    ];
  }

  title(conv) {
    if (conv.kind === "channel") return conv.name;
    if (conv.kind === "dm") return conv.other_user ? conv.other_user.display_name || conv.other_user.username : "Direct message";
    return (conv.members || []).filter((m) => m.id !== this.me.id).map((m) => m.display_name || m.username).join(", ");
  }

  // The sidebar is built once; its links are kept and updated in place (so that focus
  // and a half-finished click survive presence and unread updates).
  renderSidebar() {
    if (!this.sidebar) return;
    if (!this.sidebarLists) {
      const section = (label, id, extra) => {
        const ul = h("ul", {});
        this.sidebar.append(h("section", { class: "sidebar-section", "aria-labelledby": id }, h("h2", { id }, label), ul, extra));
        return ul;
      };
      this.sidebarLists = {
        channels: section("Channels", "channels-heading", h("button", { type: "button", class: "link", id: "browse-channels", onclick: () => this.openBrowse() }, "+ Browse or create channels")),
        people: section("Direct messages", "dms-heading", h("button", { type: "button", class: "link", id: "new-dm", onclick: () => this.openDirectory() }, "+ New message")),
      };
      this.sidebarCaches = { channels: new Map(), people: new Map() };
    }
    const fill = (which, kinds) => {
      const items = [...this.conversations.values()].filter((c) => kinds.includes(c.kind));
      items.sort((x, y) => this.title(x).localeCompare(this.title(y)));
      const cache = this.sidebarCaches[which];
      const make = (conv) => () => h("li", {}, h("a", { href: `#/c/${conv.id}`, class: "conv-link" }));
      reconcile(this.sidebarLists[which], items.map((conv) => ({ key: conv.id, version: "", make: make(conv) })), cache);
      for (const conv of items) this.updateSidebarItem(cache.get(conv.id).el.firstChild, conv);
    };
    fill("channels", ["channel"]);
    fill("people", ["dm", "group_dm"]);
  }

  updateSidebarItem(a, conv) {
    const unread = conv.unread_count > 0 && conv.id !== this.activeVisibleId();
    const label = [
      this.title(conv),
      conv.unread_count ? `${conv.unread_count} unread` : "",
      conv.mention_count ? `${conv.mention_count} mentions` : "",
      conv.muted ? "muted" : "",
    ].filter(Boolean).join(", ");
    const prefix = conv.kind === "channel"
      ? h("span", { class: "hash", "aria-hidden": "true" }, conv.is_private ? "🔒" : "#")
      : conv.kind === "dm" && conv.other_user ? this.presenceDot(conv.other_user.id) : h("span", { class: "hash", "aria-hidden": "true" }, "👥");
    a.className = ["conv-link", unread ? "unread" : "", conv.muted ? "muted" : ""].join(" ").trim();
    a.dataset.convId = conv.id;
    a.dataset.kind = conv.kind;
    a.setAttribute("aria-label", label);
    if (conv.id === this.active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    const parts = [prefix, h("span", { class: "conv-name" }, safeText(this.title(conv)))];
    if (conv.mention_count > 0) parts.push(h("span", { class: "badge mention-badge", "aria-hidden": "true" }, `@${conv.mention_count}`));
    if (conv.unread_count > 0) parts.push(h("span", { class: "badge unread-badge", "aria-hidden": "true" }, String(conv.unread_count)));
    a.replaceChildren(...parts);
  }

  // ---- routing and the conversation view -----------------------------------------------

  route() {
    const match = location.hash.match(/^#\/c\/([0-9a-f-]{36})/);
    if (match && this.conversations.has(match[1])) this.open(match[1]);
    else if (match) this.openUnknown(match[1]);
    else if (!this.active && this.conversations.size) {
      const first = [...this.conversations.values()].find((c) => c.kind === "channel") || this.conversations.values().next().value;
      location.replace(`#/c/${first.id}`);
    } else if (!this.active && !this.conversations.size) {
      // A new account, or a new workspace: nothing to pick yet, so say what to do.
      this.main.replaceChildren(
        h(
          "div",
          { class: "empty", id: "getting-started" },
          h("h2", {}, "You are not in any conversation yet"),
          h("p", {}, "Join a channel, or start a conversation with someone."),
          h("p", { class: "empty-actions" },
            h("button", { type: "button", class: "primary", onclick: () => this.openBrowse() }, "Browse or create channels"),
            " ",
            h("button", { type: "button", onclick: () => this.openDirectory() }, "Message someone")),
        ),
      );
    }
  }

  // A link to a conversation that is not in the sidebar: a public channel the user has
  // not joined (offer to join it), one joined elsewhere meanwhile (open it), or one that
  // does not exist or is not visible (say so). It used to show another conversation
  // under the link's address, without a word.
  async openUnknown(id) {
    const here = () => location.hash.startsWith(`#/c/${id}`);
    this.active = null;
    this.renderSidebar();
    this.main.replaceChildren(h("p", { class: "empty" }, "Loading…"));
    let channel = null;
    try {
      channel = await this.api.get(`/channels/${id}`);
    } catch (err) {
      if (err.status !== 404 && err.status !== 403) {
        if (here()) this.main.replaceChildren(h("div", { class: "empty" }, h("p", { class: "load-error", role: "alert" }, `This conversation could not be opened: ${explain(err)} `, h("button", { type: "button", onclick: () => this.route() }, "Retry"))));
        return;
      }
    }
    if (!here()) return;
    if (channel && channel.is_member) {
      await this.loadConversations().catch(() => {});
      if (this.conversations.has(id) && here()) this.open(id);
      return;
    }
    const back = h("button", { type: "button", onclick: () => { location.hash = ""; this.route(); } }, "Back to my conversations");
    if (channel) {
      this.main.replaceChildren(
        h(
          "div",
          { class: "empty", id: "channel-preview" },
          h("h2", { id: "conv-title" }, `#${channel.name}`),
          channel.description ? h("p", {}, channel.description) : null,
          h("p", {}, `You are not a member of this channel (${channel.member_count} ${channel.member_count === 1 ? "member" : "members"}).`),
          h("p", { class: "empty-actions" }, h("button", { type: "button", class: "primary join", onclick: () => this.join(channel, null) }, `Join #${channel.name}`), " ", back),
        ),
      );
    } else {
      this.main.replaceChildren(
        h("div", { class: "empty", id: "not-found" }, h("h2", {}, "Conversation not found"), h("p", {}, "It does not exist, or you do not have access to it."), h("p", {}, back)),
      );
    }
  }

  activeVisibleId() {
    return document.visibilityState === "visible" ? this.active : null;
  }

  listOf(convId) {
    if (!this.lists.has(convId)) this.lists.set(convId, new MessageList());
    return this.lists.get(convId);
  }

  async open(convId) {
    const conv = this.conversations.get(convId);
    this.active = convId;
    this.sidebar.classList.remove("open");
    this.header.querySelector(".menu-toggle")?.setAttribute("aria-expanded", "false");
    if (narrow()) this.closePane(); // on a phone the pane covers the conversation being opened
    this.elements.set("main", new Map());
    this.typing.clear();
    const list = this.listOf(convId);
    const title = this.title(conv);
    const prefix = conv.kind === "channel" ? (conv.is_private ? "🔒 " : "#") : "";
    this.messagesEl = h("div", { class: "messages", id: "messages", role: "log", "aria-live": "off", "aria-label": `Messages in ${prefix}${title}`, "aria-describedby": "log-hint", tabindex: "0", onkeydown: (e) => this.logKeys(e) });
    this.olderButton = h("button", { type: "button", class: "link older", onclick: () => this.loadOlder() }, "Load older messages");
    this.typingEl = h("p", { class: "typing", "aria-live": "polite" });
    // Shown when others' messages arrive while the list is scrolled up (reading history):
    // they land out of sight, and only the sidebar's badge said so.
    this.jumpButton = h("button", { type: "button", class: "jump-new", hidden: true, onclick: () => this.jumpToNewest() }, "New messages ↓");
    const actions = [
      h("button", { type: "button", id: "open-pins", onclick: () => this.openPins() }, "📌 Pins"),
      h("button", { type: "button", id: "toggle-mute", "aria-pressed": String(!!conv.muted), onclick: () => this.toggleMute(conv) }, conv.muted ? "Unmute" : "Mute"),
    ];
    if (conv.kind === "channel") actions.push(h("button", { type: "button", id: "leave-channel", onclick: () => this.leave(conv) }, "Leave"));
    this.composer = new Composer(this, conv, {});
    this.main.replaceChildren(
      h("header", { class: "conv-header" }, h("h2", { id: "conv-title" }, safeText(prefix + title)), conv.topic ? h("p", { class: "topic" }, conv.topic) : null, h("div", { class: "conv-actions" }, actions)),
      h("p", { id: "log-hint", class: "visually-hidden" }, "Up and down arrows move between messages; Tab reaches the actions of the message in focus, Escape goes back to it."),
      this.olderButton,
      this.messagesEl,
      this.jumpButton,
      this.typingEl,
      this.composer.el,
    );
    this.messagesEl.addEventListener("scroll", () => {
      if (this.messagesEl.scrollTop < 80) this.loadOlder();
      if (this.nearBottom()) this.jumpButton.hidden = true;
      this.maybeMarkRead();
    });
    this.renderSidebar();
    if (!list.loaded) await this.loadFirstPage(conv);
    else await this.catchUp(conv);
    if (this.active !== convId) return;
    this.renderMessages({ toBottom: true });
    this.maybeMarkRead();
  }

  // The newest page of a conversation, the first time it is opened. Until it is here the
  // list says "Loading messages…"; if it fails, it says why with a Retry button, and
  // the next reconnect tries again by itself.
  async loadFirstPage(conv) {
    const list = this.listOf(conv.id);
    if (list.loadingFirst) return list.loadingFirst;
    list.loadError = null;
    if (this.active === conv.id) this.renderMessages();
    list.loadingFirst = (async () => {
      try {
        const page = await this.api.get(conversationPath(conv) + "/messages", { limit: 50 });
        list.addPage(page, "first");
      } catch (err) {
        list.loadError = explain(err);
      } finally {
        list.loadingFirst = null;
      }
    })();
    await list.loadingFirst;
    if (this.active === conv.id) {
      this.renderMessages({ toBottom: true });
      this.maybeMarkRead();
    }
  }

  // Keyboard use of a message list (the conversation's or the thread's): the arrow keys,
  // Home and End move the focus from message to message (each is focusable, outside the
  // Tab order), Tab then reaches the focused message's actions, Escape goes back to it.
  logKeys(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.target.closest("textarea, input, .palette")) return;
    const log = e.currentTarget;
    const current = e.target.closest("article");
    if (e.key === "Escape" && current && current !== e.target) {
      e.preventDefault();
      current.focus();
      return;
    }
    if (!["ArrowUp", "ArrowDown", "Home", "End"].includes(e.key)) return;
    const items = [...log.querySelectorAll(":scope > article")];
    if (!items.length) return;
    const at = items.indexOf(current);
    let next;
    if (e.key === "Home") next = 0;
    else if (e.key === "End") next = items.length - 1;
    else if (at < 0) next = e.key === "ArrowUp" ? items.length - 1 : 0;
    else next = Math.max(0, Math.min(items.length - 1, at + (e.key === "ArrowUp" ? -1 : 1)));
    e.preventDefault();
    items[next].focus();
  }

  jumpToNewest() {
    this.messagesEl.scrollTop = this.messagesEl.scrollHeight;
    this.jumpButton.hidden = true;
    this.messagesEl.focus();
    this.maybeMarkRead();
  }

  async loadOlder() {
    const conv = this.conversations.get(this.active);
    const list = this.listOf(this.active);
    if (!conv || !list.loaded || !list.hasOlder || list.loadingOlder) return;
    list.loadingOlder = true;
    try {
      const page = await this.api.get(conversationPath(conv) + "/messages", { before: list.beforeCursor, limit: 50 });
      list.addPage(page, "before");
    } catch (err) {
      this.toast(explain(err));
    } finally {
      list.loadingOlder = false;
    }
    if (this.active === conv.id) this.renderMessages({ keepPosition: true });
  }

  // Everything stored since our after_cursor: on a reconnect, a seq gap, or reopening.
  async catchUp(conv) {
    const list = this.lists.get(conv.id);
    if (!list || !list.loaded) return;
    if (list.catching) {
      list.again = true;
      return list.catching;
    }
    list.catching = (async () => {
      do {
        list.again = false;
        for (let page = 0; page < 50; page++) {
          const answer = await this.api.get(conversationPath(conv) + "/messages", { after: list.afterCursor, limit: 200 });
          const fresh = answer.results.filter((m) => !list.bySeq.has(m.seq));
          list.addPage(answer, "after");
          for (const message of fresh) this.countUnread(conv, message);
          if (!answer.has_more) break;
        }
      } while (list.again);
    })();
    try {
      await list.catching;
    } catch (err) {
      // retried on the next reconnect or gap
    } finally {
      list.catching = null;
    }
    if (this.active === conv.id) {
      this.renderMessages();
      this.maybeMarkRead();
    }
    this.renderSidebar();
  }

  async onReconnect() {
    // Missed events: every conversation we hold messages of catches up from its after_cursor.
    const loaded = [...this.lists.keys()].map((id) => this.conversations.get(id)).filter(Boolean);
    const open = this.conversations.get(this.active);
    if (open && !this.listOf(open.id).loaded) this.loadFirstPage(open); // it failed while we were offline
    await Promise.all(loaded.map((conv) => this.catchUp(conv)));
    try {
      await this.loadConversations();
    } catch (err) {
      // the sidebar stays as it was
    }
    if (this.pane && this.pane.kind === "thread") this.openThread(this.pane.conv, this.pane.rootId, { keepFocus: true });
    for (const list of this.lists.values()) {
      for (const pending of list.pendingList()) if (pending.state === "failed" && pending.retryable) this.deliver(pending.conv, pending);
    }
  }

  // ---- rendering messages --------------------------------------------------------------

  nearBottom() {
    const el = this.messagesEl;
    return el && el.scrollHeight - el.scrollTop - el.clientHeight < 60;
  }

  renderMessages({ toBottom = false, keepPosition = false } = {}) {
    if (!this.active || !this.messagesEl) return;
    const list = this.listOf(this.active);
    const el = this.messagesEl;
    const stick = toBottom || this.nearBottom();
    const fromBottom = el.scrollHeight - el.scrollTop;
    // Messages, with a divider where the (local) day changes: a time alone is ambiguous.
    const items = [];
    let day = null;
    for (const m of list.list(MAIN_VIEW)) {
      const key = dayKey(m.created_at);
      if (key !== day) {
        day = key;
        const label = formatDay(m.created_at);
        items.push({ key: "d" + key, version: label, make: () => h("div", { class: "day-divider", role: "separator", "aria-label": label }, h("span", {}, label)) });
      }
      items.push({ key: "s" + m.seq, version: this.versionOf(m), make: () => this.messageEl(m, "main") });
    }
    for (const p of list.pendingList()) {
      if (!p.thread_id) items.push({ key: "p" + p.client_msg_id, version: p.state, make: () => this.pendingEl(p) });
    }
    if (list.loaded && !list.hasOlder) items.unshift({ key: "start", version: "", make: () => h("p", { class: "start" }, "This is the very beginning of the conversation.") });
    if (!list.loaded) {
      const conv = this.conversations.get(this.active);
      items.unshift(list.loadError
        ? { key: "load-error", version: list.loadError, make: () => h("p", { class: "load-error", role: "alert" }, `The messages could not be loaded: ${list.loadError} `, h("button", { type: "button", class: "retry-load", onclick: () => this.loadFirstPage(conv) }, "Retry")) }
        : { key: "loading", version: "", make: () => h("p", { class: "loading-messages" }, "Loading messages…") });
    }
    reconcile(el, items, this.elements.get("main"));
    this.olderButton.hidden = !list.loaded || !list.hasOlder;
    if (keepPosition) el.scrollTop = el.scrollHeight - fromBottom;
    else if (stick) el.scrollTop = el.scrollHeight;
  }

  versionOf(m) {
    const files = (m.files || []).map((f) => f.id);
    return JSON.stringify([m.edited_at, m.content, files, m.reactions, m.reply_count, m.pinned_at, m.deleted, this.users.has(m.sender_id)]);
  }

  messageEl(m, where) {
    const mine = m.sender_id === this.me.id;
    const conv = this.conversations.get(convKey(m));
    const author = this.userName(m.sender_id);
    if (m.type === "SYSTEM") {
      return h("article", { class: "message system", tabindex: "-1", dataset: { seq: m.seq, id: m.id } }, h("p", { class: "content", dir: "auto" }, renderMrkdwn(m.content, this)));
    }
    // A message whose only file its uploader deleted keeps no text and no file: say so.
    const body = m.deleted
      ? h("p", { class: "content deleted" }, "This message was deleted.")
      : !m.content && !(m.files || []).length
        ? h("p", { class: "content deleted" }, "The file was deleted.")
        : h("div", { class: "content", dir: "auto" }, renderMrkdwn(m.content, this));
    const reactions = h(
      "div",
      { class: "reactions", role: "group", "aria-label": "Reactions" },
      (m.reactions || []).map((r) =>
        h(
          "button",
          {
            type: "button",
            class: "reaction",
            "aria-pressed": String(r.user_ids.includes(this.me.id)),
            "aria-label": `${r.emoji} ${r.count}`,
            onclick: () => this.toggleReaction(conv, m, r.emoji),
          },
          r.emoji,
          " ",
          h("span", { class: "count" }, String(r.count)),
        ),
      ),
    );
    const actions = h("div", { class: "actions", role: "group", "aria-label": "Message actions" });
    if (!m.deleted) {
      actions.append(h("button", { type: "button", class: "react", "aria-label": "Add a reaction", "aria-haspopup": "true", onclick: (e) => this.openPalette(e.currentTarget, conv, m) }, "☺+"));
      if (where === "main" && !m.thread_id) actions.append(h("button", { type: "button", class: "reply", onclick: () => this.openThread(conv, m.id) }, "Reply"));
      actions.append(h("button", { type: "button", class: "pin", onclick: () => this.togglePin(conv, m) }, m.pinned_at ? "Unpin" : "Pin"));
      if (mine) {
        actions.append(h("button", { type: "button", class: "edit", onclick: () => this.startEdit(conv, m, body) }, "Edit"));
        actions.append(h("button", { type: "button", class: "delete", onclick: () => this.deleteMessage(conv, m) }, "Delete"));
      }
    }
    const thread = where === "main" && m.reply_count
      ? h("button", { type: "button", class: "thread-summary link", onclick: () => this.openThread(conv, m.id) }, `${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}`)
      : null;
    return h(
      "article",
      { class: ["message", mine ? "mine" : ""].join(" "), tabindex: "-1", dataset: { seq: m.seq, id: m.id }, "aria-label": `${author}, ${formatTime(m.created_at)}` },
      h(
        "header",
        {},
        h("span", { class: "author" }, safeText(author)),
        " ",
        h("time", { datetime: m.created_at, title: formatFull(m.created_at) }, formatTime(m.created_at)),
        m.edited_at ? h("span", { class: "edited" }, " (edited)") : null,
        m.pinned_at ? h("span", { class: "pinned", title: "pinned" }, " 📌") : null,
      ),
      body,
      this.filesEl(m.files || []),
      reactions,
      thread,
      actions,
    );
  }

  pendingEl(p) {
    const failed = p.state === "failed";
    return h(
      "article",
      { class: `message mine ${failed ? "failed" : "pending"}`, tabindex: "-1", dataset: { clientMsgId: p.client_msg_id } },
      h("div", { class: "content", dir: "auto" }, renderMrkdwn(p.content, this)),
      failed
        ? h(
            "p",
            { class: "send-state", role: "alert" },
            `Not sent: ${p.error || "error"} `,
            h("button", { type: "button", class: "retry", onclick: () => this.deliver(p.conv, p) }, "Retry"),
            " ",
            h("button", { type: "button", class: "discard", onclick: () => this.discard(p) }, "Discard"),
          )
        : h("p", { class: "send-state" }, "Sending…"),
    );
  }

  filesEl(files) {
    if (!files.length) return null;
    return h(
      "ul",
      { class: "files" },
      files.map((file) => {
        if (file.image && file.thumbnail_url !== null) {
          // Its size is known before the thumbnail arrives: the space is kept from the start,
          // so that a list scrolled to the bottom stays there when the image loads.
          const scale = Math.min(1, 320 / (file.image.width || 1), 240 / (file.image.height || 1));
          const img = h("img", { alt: file.name, width: Math.max(1, Math.round(file.image.width * scale)), height: Math.max(1, Math.round(file.image.height * scale)) });
          this.api.blobUrl(`/files/${file.id}/thumbnail`).then((url) => { img.src = url; }).catch(() => { img.alt = `${file.name} (unavailable)`; });
          const open = h("button", { type: "button", class: "image-link", title: `Download ${file.name}`, "aria-label": `Download ${file.name}`, onclick: () => this.download(file) }, img);
          return h("li", {}, open, h("span", { class: "file-name" }, file.name));
        }
        return h(
          "li",
          {},
          h("button", { type: "button", class: "link", onclick: () => this.download(file) }, `📎 ${file.name}`),
          h("span", { class: "file-size" }, ` (${Math.ceil(file.size / 1024)} KiB)`),
        );
      }),
    );
  }

  async download(file) {
    let url;
    try {
      url = await this.api.blobUrl(`/files/${file.id}/content`);
    } catch (err) {
      this.toast(`${file.name} could not be downloaded: ${explain(err)}`);
      return;
    }
    const a = h("a", { href: url, download: file.name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---- sending -------------------------------------------------------------------------

  send(conv, content, { threadId = null, fileIds = [] } = {}) {
    const list = this.listOf(conv.id);
    const pending = { client_msg_id: newClientMsgId(), content, state: "pending", thread_id: threadId, file_ids: fileIds, conv };
    list.pending.set(pending.client_msg_id, pending);
    this.rerender(conv.id, { toBottom: true });
    return this.deliver(conv, pending);
  }

  // Sends into one conversation go one after the other, so that the server assigns
  // their seq in the order they were written (concurrent requests could swap them).
  deliver(conv, pending) {
    pending.state = "pending";
    this.rerender(conv.id);
    this.sendQueues = this.sendQueues || new Map();
    const previous = this.sendQueues.get(conv.id) || Promise.resolve();
    const done = previous.then(() => this.post(conv, pending));
    this.sendQueues.set(conv.id, done);
    return done;
  }

  async post(conv, pending) {
    pending.state = "pending";
    this.rerender(conv.id);
    const body = { content: pending.content, client_msg_id: pending.client_msg_id };
    if (pending.thread_id) body.thread_id = pending.thread_id;
    if (pending.file_ids.length) body.file_ids = pending.file_ids;
    try {
      const message = await this.api.post(conversationPath(conv) + "/messages", body);
      this.addMessage(conv, message);
    } catch (err) {
      pending.state = "failed";
      pending.error = explain(err);
      pending.retryable = err.status === 0 || err.status === 503 || err.status === 429;
      this.rerender(conv.id);
    }
  }

  discard(pending) {
    this.listOf(pending.conv.id).pending.delete(pending.client_msg_id);
    this.rerender(pending.conv.id);
  }

  rerender(convId, options = {}) {
    if (convId === this.active) this.renderMessages(options);
    if (this.pane && this.pane.kind === "thread" && this.pane.conv.id === convId) this.renderPane();
  }

  // A message we learned about (event, ack or answer): in order, or a catch-up if a seq is missing.
  addMessage(conv, message, { counted = false } = {}) {
    const list = this.lists.get(conv.id);
    const known = list ? list.bySeq.has(message.seq) : false;
    const outOfSight = conv.id === this.active && !this.nearBottom();
    if (list && list.loaded) {
      if (!list.acceptLive(message)) {
        list.pending.delete(message.client_msg_id);
        this.catchUp(conv);
      }
    }
    if (this.pane && this.pane.kind === "thread" && message.thread_id === this.pane.rootId) this.pane.list.upsert(message);
    if (!known) {
      if (!counted) this.countUnread(conv, message);
      if (conv.id === this.active && message.sender_id !== this.me.id) {
        this.announce(`${this.userName(message.sender_id)}: ${message.content.slice(0, 200)}`);
      }
    }
    if (conv.latest === null || !conv.latest || conv.latest.seq < message.seq) {
      conv.latest = { seq: message.seq, created_at: message.created_at, sender_id: message.sender_id, preview: message.content.slice(0, 120) };
    }
    if (!known && outOfSight && message.sender_id !== this.me.id && message.type !== "SYSTEM" && MAIN_VIEW(message)) this.jumpButton.hidden = false;
    this.rerender(conv.id);
    this.maybeMarkRead();
  }

  countUnread(conv, message) {
    if (message.sender_id === this.me.id || message.type === "SYSTEM" || !MAIN_VIEW(message)) return;
    if (conv.id === this.activeVisibleId() && this.nearBottom()) return;
    if (conv.last_read_seq !== null && conv.last_read_seq !== undefined && message.seq <= conv.last_read_seq) return;
    conv.unread_count = (conv.unread_count || 0) + 1;
    const mentioned = (message.mentions || []).includes(this.me.id) || message.mentions_channel;
    if (mentioned) conv.mention_count = (conv.mention_count || 0) + 1;
    this.renderSidebar();
    if (!this.serverNotifications && (conv.kind !== "channel" || mentioned)) this.notify(conv, message);
  }

  notify(conv, message) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    const note = new Notification(`${this.userName(message.sender_id)} in ${this.title(conv)}`, { body: message.content.slice(0, 200), tag: conv.id });
    note.onclick = () => {
      window.focus();
      location.hash = `#/c/${conv.id}`;
    };
  }

  // ---- read markers --------------------------------------------------------------------

  maybeMarkRead() {
    const conv = this.conversations.get(this.active);
    if (!conv || document.visibilityState !== "visible" || !this.nearBottom()) return;
    const list = this.listOf(conv.id);
    const seq = list.maxSeq;
    if (!seq || (conv.last_read_seq !== null && conv.last_read_seq >= seq && !conv.unread_count)) return;
    conv.unread_count = 0;
    conv.mention_count = 0;
    conv.last_read_seq = Math.max(conv.last_read_seq || 0, seq);
    this.renderSidebar();
    clearTimeout(this.readTimer);
    if (!this.serverUnreads) return; // no read state on this server (issue 18): client-side counts only
    this.readTimer = setTimeout(async () => {
      try {
        const answer = await this.api.put(conversationPath(conv) + "/read", { seq });
        conv.unread_count = answer.unread_count;
        conv.mention_count = answer.mention_count;
        conv.last_read_seq = answer.last_read_seq;
        this.renderSidebar();
      } catch (err) {
        // a server without read state (issue 18) answers 404: the counts stay client-side
      }
    }, 300);
  }

  // ---- events ------------------------------------------------------------------------

  onFrame(frame) {
    const conv = this.conversations.get(convKey(frame));
    switch (frame.type) {
      case "message.created":
        if (conv) this.addMessage(conv, frame.message);
        else {
          // A conversation new to us (a DM or group DM someone opened, a channel we were added to).
          this.reloadSidebarSoon().then(() => {
            const added = this.conversations.get(convKey(frame));
            // With server read state, the sidebar's counts already include this message.
            if (added) this.addMessage(added, frame.message, { counted: this.serverUnreads });
          });
        }
        break;
      case "message.updated":
        if (conv) {
          this.lists.get(conv.id)?.upsert(frame.message);
          if (this.pane?.list) this.pane.list.get(frame.message.id) && this.pane.list.upsert(frame.message);
          this.rerender(conv.id);
        }
        break;
      case "message.deleted":
        if (conv) {
          this.lists.get(conv.id)?.remove(frame.id);
          this.pane?.list?.remove(frame.id);
          this.rerender(conv.id);
        }
        break;
      case "reaction.added":
      case "reaction.removed":
        if (conv) this.applyReaction(conv, frame);
        break;
      case "thread.updated":
        if (conv) {
          const root = this.lists.get(conv.id)?.get(frame.root_id);
          if (root) Object.assign(root, { reply_count: frame.reply_count, reply_users: frame.reply_users, last_reply_at: frame.last_reply_at });
          this.rerender(conv.id);
        }
        break;
      case "typing":
        if (conv && conv.id === this.active && frame.user_id !== this.me.id) this.showTyping(frame.user_id);
        break;
      case "presence.changed":
        this.presence.set(frame.user_id, frame.status);
        this.renderSidebar();
        break;
      case "member.joined":
      case "member.left":
      case "channel.updated":
      case "channel.deleted":
      case "member.role_changed":
        if (frame.user_id === this.me.id || frame.type.startsWith("channel.")) this.reloadSidebarSoon();
        break;
      case "read.updated":
        if (conv) {
          conv.last_read_seq = Math.max(conv.last_read_seq || 0, frame.last_read_seq);
          if (!conv.latest || conv.latest.seq <= conv.last_read_seq) Object.assign(conv, { unread_count: 0, mention_count: 0 });
          this.reloadSidebarSoon();
        }
        break;
      case "notification":
        this.serverNotifications = true;
        {
          const where = this.conversations.get(convKey(frame.message));
          if (where) this.notify(where, frame.message);
        }
        break;
      default:
        break;
    }
  }

  // One sidebar reload for a burst of events; resolves when it is done.
  reloadSidebarSoon() {
    if (!this.sidebarReload) {
      this.sidebarReload = new Promise((resolve) => {
        setTimeout(() => {
          this.sidebarReload = null;
          this.loadConversations().catch(() => {}).then(resolve);
        }, 200);
      });
    }
    return this.sidebarReload;
  }

  showTyping(userId) {
    clearTimeout(this.typing.get(userId));
    this.typing.set(userId, setTimeout(() => { this.typing.delete(userId); this.renderTyping(); }, 5000));
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typing.keys()].map((id) => this.userName(id));
    this.typingEl.replaceChildren(...safeText(names.length ? `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…` : ""));
  }

  sendTyping(conv) {
    const now = Date.now();
    if (this.lastTyping && now - this.lastTyping < 3000) return;
    this.lastTyping = now;
    this.socket.send({ type: "typing", [conv.kind === "channel" ? "channel_id" : "conversation_id"]: conv.id });
  }

  // ---- message actions ----------------------------------------------------------------

  messagePath(conv, m) {
    return `${conversationPath(conv)}/messages/${m.id}`;
  }

  applyReaction(conv, frame) {
    const lists = [this.lists.get(conv.id), this.pane?.list].filter(Boolean);
    for (const list of lists) {
      const m = list.get(frame.message_id);
      if (!m) continue;
      const reactions = (m.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
      let entry = reactions.find((r) => r.emoji === frame.emoji);
      if (!entry) {
        entry = { emoji: frame.emoji, count: 0, user_ids: [] };
        reactions.push(entry);
      }
      entry.count = frame.count;
      if (frame.type === "reaction.added" && !entry.user_ids.includes(frame.user_id)) entry.user_ids.push(frame.user_id);
      if (frame.type === "reaction.removed") entry.user_ids = entry.user_ids.filter((id) => id !== frame.user_id);
      m.reactions = reactions.filter((r) => r.count > 0);
    }
    this.rerender(conv.id);
  }

  async toggleReaction(conv, m, emoji) {
    const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.user_ids.includes(this.me.id));
    const path = `${this.messagePath(conv, m)}/reactions/${encodeURIComponent(emoji)}`;
    try {
      const updated = mine ? await this.api.del(path) : await this.api.put(path);
      if (updated) this.upsertEverywhere(conv, updated);
    } catch (err) {
      this.toast(explain(err));
    }
  }

  upsertEverywhere(conv, message) {
    this.lists.get(conv.id)?.upsert(message);
    if (this.pane?.list?.get(message.id)) this.pane.list.upsert(message);
    this.rerender(conv.id);
  }

  openPalette(button, conv, m) {
    document.querySelector(".palette")?.remove();
    const close = () => {
      const article = button.closest("article");
      palette.remove();
      article?.focus(); // the actions show on :focus-within: the button is focusable again
      button.focus();
    };
    const palette = h(
      "div",
      { class: "palette", role: "group", "aria-label": "Pick a reaction", onkeydown: (e) => { if (e.key === "Escape") close(); } },
      PALETTE.map((emoji) => h("button", { type: "button", class: "palette-emoji", "aria-label": `React with ${emoji}`, onclick: () => { close(); this.toggleReaction(conv, m, emoji); } }, emoji)),
    );
    button.closest("article").append(palette);
    palette.querySelector("button").focus();
  }

  async togglePin(conv, m) {
    try {
      const updated = m.pinned_at ? await this.api.del(`${this.messagePath(conv, m)}/pin`) : await this.api.put(`${this.messagePath(conv, m)}/pin`);
      if (updated) this.upsertEverywhere(conv, updated);
    } catch (err) {
      this.toast(explain(err));
    }
  }

  startEdit(conv, m, body) {
    const input = h("textarea", { class: "edit-input", "aria-label": "Edit message", value: m.content });
    const save = async () => {
      const content = input.value.trim();
      if (!content || content === m.content) return cancel();
      try {
        const updated = await this.api.patch(this.messagePath(conv, m), { content });
        this.upsertEverywhere(conv, updated);
      } catch (err) {
        this.toast(explain(err));
      }
    };
    const cancel = () => form.replaceWith(body);
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        save();
      } else if (e.key === "Escape") cancel();
    });
    const form = h("div", { class: "edit-form" }, input, h("button", { type: "button", class: "save-edit", onclick: save }, "Save"), h("button", { type: "button", onclick: cancel }, "Cancel"));
    body.replaceWith(form);
    input.focus();
  }

  async deleteMessage(conv, m) {
    if (!window.confirm("Delete this message?")) return;
    try {
      await this.api.del(this.messagePath(conv, m));
      this.lists.get(conv.id)?.remove(m.id);
      this.pane?.list?.remove(m.id);
      this.rerender(conv.id);
    } catch (err) {
      this.toast(explain(err));
    }
  }

  async toggleMute(conv) {
    try {
      await this.api.put(conversationPath(conv) + "/preferences", { muted: !conv.muted });
      conv.muted = !conv.muted;
      this.open(conv.id);
    } catch (err) {
      this.toast(err.status === 404 ? "This server does not support muting yet." : explain(err));
    }
  }

  async leave(conv) {
    try {
      await this.api.post(conversationPath(conv) + "/leave");
      this.conversations.delete(conv.id);
      this.lists.delete(conv.id);
      this.active = null;
      location.hash = "";
      this.main.replaceChildren(h("p", { class: "empty" }, `You left #${conv.name}.`));
      this.renderSidebar();
      this.route();
    } catch (err) {
      this.toast(explain(err));
    }
  }
}

// The side pane and the dialogs live in their own modules, as methods of Chat.
for (const part of [PaneMethods, DialogMethods]) {
  for (const name of Object.getOwnPropertyNames(part.prototype)) {
    if (name !== "constructor") Chat.prototype[name] = part.prototype[name];
  }
}
