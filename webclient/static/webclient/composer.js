// The message box: Enter sends, Shift+Enter starts a new line, @ opens the member
// autocomplete, files come from the Attach button or a drag and drop onto the
// conversation (uploaded at once with POST /files, sent with the next message).

import { explain } from "./api.js";
import { h } from "./render.js";

let composers = 0;
const MAX_CHARACTERS = 4000; // the contract's limit on `content`, after trimming, in characters

export class Composer {
  constructor(chat, conv, { threadId = null }) {
    this.chat = chat;
    this.conv = conv;
    this.threadId = threadId;
    this.files = []; // {file, id, state, previewUrl}
    this.suggestions = [];
    this.selected = -1;
    const n = ++composers;
    const inputId = threadId ? "thread-input" : "composer-input";
    const title = chat.title(conv);
    const where = threadId ? "Reply in thread" : `Message ${conv.kind === "channel" ? "#" : ""}${title}`;
    this.input = h("textarea", {
      id: inputId,
      rows: "1",
      placeholder: where,
      "aria-label": where,
      "aria-autocomplete": "list",
      "aria-controls": `mentions-${n}`,
      "aria-expanded": "false",
    });
    this.listbox = h("ul", { id: `mentions-${n}`, class: "mentions-list", role: "listbox", "aria-label": "People to mention", hidden: true });
    this.attachments = h("ul", { class: "attachments", "aria-label": "Files to send" });
    this.error = h("p", { class: "composer-error form-error", role: "alert", id: `composer-error-${n}` });
    this.input.setAttribute("aria-describedby", this.error.id);
    this.picker = h("input", { type: "file", multiple: true, class: "visually-hidden", id: `file-${n}`, tabindex: "-1", onchange: (e) => { this.addFiles(e.target.files); e.target.value = ""; } });
    this.el = h(
      "form",
      { class: "composer", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.listbox,
      this.attachments,
      this.error,
      h(
        "div",
        { class: "composer-row" },
        h("button", { type: "button", class: "attach", "aria-label": "Attach files", onclick: () => this.picker.click() }, "📎"),
        this.picker,
        this.input,
        h("button", { type: "submit", class: "primary send" }, "Send"),
      ),
    );
    this.input.addEventListener("keydown", (e) => this.onKey(e));
    this.input.addEventListener("input", () => this.onInput());
    // Drag and drop anywhere on the conversation (or the thread pane).
    const zone = threadId ? chat.aside : chat.main;
    if (!zone.dataset.dropReady) {
      zone.dataset.dropReady = "1";
      zone.addEventListener("dragover", (e) => {
        if (![...e.dataTransfer.types].includes("Files")) return;
        e.preventDefault();
        zone.classList.add("dropping");
      });
      zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
      zone.addEventListener("drop", (e) => {
        e.preventDefault();
        zone.classList.remove("dropping");
        const target = threadId ? chat.threadParts?.composer : chat.composer;
        if (target && e.dataTransfer.files.length) target.addFiles(e.dataTransfer.files);
      });
    }
  }

  onKey(e) {
    if (!this.listbox.hidden && this.suggestions.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : -1;
        this.select((this.selected + step + this.suggestions.length) % this.suggestions.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        this.complete(this.suggestions[Math.max(this.selected, 0)]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        this.hideSuggestions();
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    }
  }

  onInput() {
    if (this.error.textContent && this.problem() === null) this.error.textContent = "";
    if (this.input.value.trim()) this.chat.sendTyping(this.conv);
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = before.match(/(?:^|\s)@([A-Za-z0-9_.-]{0,32})$/);
    clearTimeout(this.lookup);
    if (!match) return this.hideSuggestions();
    this.lookup = setTimeout(() => this.suggest(match[1]), 150);
  }

  async suggest(prefix) {
    let users = [];
    try {
      users = (await this.chat.api.get("/users", { q: prefix, limit: 8 })).results;
    } catch (err) {
      return;
    }
    this.chat.remember(users);
    const now = this.input.value.slice(0, this.input.selectionStart).match(/(?:^|\s)@([A-Za-z0-9_.-]{0,32})$/);
    if (!now || now[1] !== prefix) return; // typed on meanwhile
    const special = ["channel", "here"].filter((name) => name.startsWith(prefix.toLowerCase())).map((name) => ({ id: name, username: name, display_name: `everyone in the conversation (@${name})` }));
    this.suggestions = [...users, ...special];
    if (!this.suggestions.length) return this.hideSuggestions();
    this.listbox.replaceChildren(
      ...this.suggestions.map((user, index) =>
        h(
          "li",
          { role: "option", id: `${this.listbox.id}-${index}`, "aria-selected": "false", onmousedown: (e) => { e.preventDefault(); this.complete(user); } },
          h("strong", {}, `@${user.username}`),
          " ",
          user.display_name || "",
        ),
      ),
    );
    this.listbox.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.select(0);
  }

  select(index) {
    this.selected = index;
    [...this.listbox.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    this.input.setAttribute("aria-activedescendant", `${this.listbox.id}-${index}`);
  }

  complete(user) {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret).replace(/@([A-Za-z0-9_.-]{0,32})$/, `@${user.username} `);
    this.input.value = before + this.input.value.slice(caret);
    this.input.selectionStart = this.input.selectionEnd = before.length;
    this.hideSuggestions();
    this.input.focus();
  }

  hideSuggestions() {
    this.suggestions = [];
    this.selected = -1;
    this.listbox.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  addFiles(fileList) {
    for (const file of fileList) {
      const entry = { file, id: null, state: "uploading", previewUrl: file.type.startsWith("image/") ? URL.createObjectURL(file) : null };
      this.files.push(entry);
      entry.done = this.chat.api.upload(file).then(
        (answer) => { entry.id = answer.id; entry.state = "ready"; this.renderFiles(); },
        (err) => { entry.state = "failed"; entry.error = explain(err); this.renderFiles(); },
      );
    }
    this.renderFiles();
  }

  renderFiles() {
    this.attachments.replaceChildren(
      ...this.files.map((entry) =>
        h(
          "li",
          { class: `attachment ${entry.state}` },
          entry.previewUrl ? h("img", { src: entry.previewUrl, alt: `Preview of ${entry.file.name}`, class: "preview" }) : null,
          h("span", {}, entry.file.name),
          h("span", { class: "state" }, { uploading: " (uploading…)", ready: "", failed: ` (failed: ${entry.error})` }[entry.state]),
          h("button", { type: "button", class: "link", "aria-label": `Remove ${entry.file.name}`, onclick: () => { this.files = this.files.filter((f) => f !== entry); this.renderFiles(); if (this.problem() === null) this.error.textContent = ""; } }, "✕"),
        ),
      ),
    );
  }

  // Why the box cannot be sent as it is (null if it can): the server would refuse it,
  // and the text would be gone from the box.
  problem() {
    const length = [...this.input.value.trim()].length;
    if (length > MAX_CHARACTERS) {
      return `This message is ${length.toLocaleString("en")} characters long: the limit is ${MAX_CHARACTERS.toLocaleString("en")}. Shorten it, or split it in two.`;
    }
    const failed = this.files.filter((f) => f.state === "failed");
    if (failed.length) {
      return `${failed.map((f) => `${f.file.name} could not be uploaded (${String(f.error).replace(/\.$/, "")})`).join("; ")}. Remove it (✕) to send the message without it.`;
    }
    return null;
  }

  async submit() {
    const problem = this.problem();
    this.error.textContent = problem || "";
    if (problem) return;
    await Promise.all(this.files.map((f) => f.done));
    const after = this.problem(); // an upload failed meanwhile
    if (after) {
      this.error.textContent = after;
      return;
    }
    const content = this.input.value.trim();
    const fileIds = this.files.filter((f) => f.state === "ready").map((f) => f.id);
    if (!content && !fileIds.length) return;
    this.input.value = "";
    for (const f of this.files) if (f.previewUrl) URL.revokeObjectURL(f.previewUrl);
    this.files = [];
    this.renderFiles();
    this.hideSuggestions();
    await this.chat.send(this.conv, content, { threadId: this.threadId, fileIds });
  }
}
