// The chat's dialogs (native <dialog>, so focus stays inside): browse, join and create
// channels; the directory, to start a DM or a group DM. Methods of Chat (chat.js).

import { explain } from "./api.js";
import { debounce, h, safeText } from "./render.js";

export class DialogMethods {
  dialog(title, ...content) {
    document.querySelector("dialog")?.remove();
    const dialog = h(
      "dialog",
      { "aria-labelledby": "dialog-title", class: "dialog" },
      h("header", { class: "pane-header" }, h("h2", { id: "dialog-title" }, title), h("button", { type: "button", class: "close", "aria-label": "Close", onclick: () => dialog.close() }, "✕")),
      ...content,
    );
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    return dialog;
  }

  openBrowse() {
    const results = h("ul", { class: "results", "aria-live": "polite" });
    const search = h("input", { type: "search", id: "channel-search", "aria-label": "Find a channel", placeholder: "Find a channel" });
    const load = async () => {
      const answer = await this.api.get("/channels", { q: search.value.trim().toLowerCase(), limit: 50 });
      results.replaceChildren(
        ...answer.results.map((c) =>
          h(
            "li",
            {},
            h("span", { class: "channel-name" }, `${c.is_private ? "🔒" : "#"}${c.name}`),
            " ",
            h("span", { class: "muted-text" }, `${c.member_count} ${c.member_count === 1 ? "member" : "members"}${c.description ? " — " + c.description : ""}`),
            " ",
            c.is_member
              ? h("a", { href: `#/c/${c.id}`, onclick: () => dialog.close() }, "Open")
              : h("button", { type: "button", class: "join", "aria-label": `Join #${c.name}`, onclick: () => this.join(c, dialog) }, "Join"),
          ),
        ),
      );
    };
    search.addEventListener("input", debounce(load, 250));
    const name = h("input", { id: "new-channel-name", name: "name", required: true, pattern: "[A-Za-z0-9_\\-]{1,80}", title: "1-80 letters, digits, - and _ (no spaces)" });
    const description = h("input", { id: "new-channel-description", name: "description" });
    const isPrivate = h("input", { id: "new-channel-private", name: "is_private", type: "checkbox" });
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      { class: "create-channel", onsubmit: async (e) => {
        e.preventDefault();
        const body = { name: name.value.trim().toLowerCase(), description: description.value.trim() };
        if (isPrivate.checked) body.is_private = true;
        try {
          const channel = await this.api.post("/channels", body);
          dialog.close();
          await this.loadConversations();
          location.hash = `#/c/${channel.id}`;
        } catch (err) {
          error.textContent = explain(err);
        }
      } },
      h("h3", {}, "Create a channel"),
      h("p", { class: "field" }, h("label", { for: "new-channel-name" }, "Name (letters, digits, - and _; no spaces)"), name),
      h("p", { class: "field" }, h("label", { for: "new-channel-description" }, "Description"), description),
      h("p", { class: "field inline" }, isPrivate, h("label", { for: "new-channel-private" }, "Private (invisible to non-members)")),
      error,
      h("button", { type: "submit", class: "primary" }, "Create"),
    );
    const dialog = this.dialog("Channels", search, results, form);
    load().catch((err) => { error.textContent = explain(err); });
    search.focus();
  }

  async join(channel, dialog) {
    try {
      await this.api.post(`/channels/${channel.id}/join`);
      dialog?.close();
      await this.loadConversations();
      if (location.hash === `#/c/${channel.id}`) this.route(); // joined from its own link
      else location.hash = `#/c/${channel.id}`;
    } catch (err) {
      this.toast(explain(err));
    }
  }

  openDirectory() {
    const chosen = new Map();
    const results = h("ul", { class: "results" });
    const picked = h("p", { class: "picked", "aria-live": "polite" });
    const search = h("input", { type: "search", id: "user-search", "aria-label": "Find people", placeholder: "Find people by name" });
    const error = h("p", { class: "form-error", role: "alert" });
    const showPicked = () => { picked.textContent = chosen.size ? `With: ${[...chosen.values()].map((u) => u.username).join(", ")}` : ""; };
    const load = async () => {
      const answer = await this.api.get("/users", { q: search.value.trim(), limit: 20 });
      this.remember(answer.results);
      results.replaceChildren(
        ...answer.results.filter((u) => u.id !== this.me.id).map((u) => {
          const id = `pick-${u.id}`;
          const box = h("input", { type: "checkbox", id, checked: chosen.has(u.id), onchange: (e) => { if (e.target.checked) chosen.set(u.id, u); else chosen.delete(u.id); showPicked(); } });
          return h("li", {}, box, h("label", { for: id }, safeText(`${u.display_name || u.username} (@${u.username})`)));
        }),
      );
    };
    search.addEventListener("input", debounce(load, 250));
    const start = h("button", { type: "button", class: "primary", id: "start-dm", onclick: async () => {
      const ids = [...chosen.keys()];
      if (!ids.length) return;
      try {
        const conv = ids.length === 1 ? await this.api.post("/dms", { user_id: ids[0] }) : await this.api.post("/group-dms", { user_ids: ids });
        dialog.close();
        await this.loadConversations();
        location.hash = `#/c/${conv.id}`;
      } catch (err) {
        error.textContent = explain(err);
      }
    } }, "Start conversation");
    const dialog = this.dialog("New message", search, results, picked, error, start);
    load().catch((err) => { error.textContent = explain(err); });
    search.focus();
  }
}
