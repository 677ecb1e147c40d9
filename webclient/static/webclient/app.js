// The web client's entry point: sign in or register, then the chat.
// Every request is one of the public contract's (API.md, /api/v1/schema/).

import { Api, explain } from "./api.js";
import { Chat } from "./chat.js";
import { h } from "./render.js";

const TOKEN_KEY = "slackclone.token";
const root = document.getElementById("app");
let chat = null;

function signOut() {
  if (chat) chat.stop();
  chat = null;
  localStorage.removeItem(TOKEN_KEY);
  showAuth("You are signed out.");
}

async function startChat(token) {
  localStorage.setItem(TOKEN_KEY, token);
  if (chat) chat.stop();
  const api = new Api({ token, onUnauthorized: () => signOut() });
  chat = new Chat({ api, root, onSignOut: signOut, onSwitch: (newToken) => startChat(newToken) });
  try {
    await chat.start();
  } catch (err) {
    if (err.status === 401) return; // the Api signed out already
    chat.stop();
    chat = null;
    // Down, restarting or overloaded: the user is still signed in, so no sign-in form
    // (it looked like being signed out); the client tries again by itself.
    if (err.status === 0 || err.status === 429 || err.status >= 500) showUnavailable(token, err);
    else showAuth(`The server answered: ${explain(err)}`);
  }
}

function showUnavailable(token, err) {
  const seconds = Math.max(5, Math.min(60, err.retryAfter || 0));
  const retry = () => {
    clearTimeout(timer);
    startChat(token);
  };
  const timer = setTimeout(retry, seconds * 1000);
  root.replaceChildren(
    h(
      "main",
      { class: "auth", id: "main" },
      h("h1", {}, "slackclone"),
      h("p", { class: "form-error", role: "alert", id: "unavailable" }, `The server cannot be used right now: ${explain(err)} You are still signed in; trying again in ${seconds} seconds.`),
      h(
        "p",
        {},
        h("button", { type: "button", class: "primary", id: "try-again", onclick: retry }, "Try again now"),
        " ",
        h("button", { type: "button", class: "link", onclick: () => { clearTimeout(timer); signOut(); } }, "Sign out"),
      ),
    ),
  );
}

function field(label, prefix, attrs) {
  const id = `${prefix}-${attrs.name}`;
  return h("p", { class: "field" }, h("label", { for: id }, label), h("input", { id, ...attrs }));
}

function showAuth(notice = "") {
  root.replaceChildren();
  root.removeAttribute("aria-busy");
  const api = new Api();
  const status = h("p", { class: "form-error", role: "alert" }, notice);
  const params = new URLSearchParams(location.hash.replace(/^#\/?/, "").split("?")[1] || "");

  const loginForm = h(
    "form",
    { class: "auth-form", "aria-labelledby": "login-title", id: "login-form" },
    h("h2", { id: "login-title" }, "Sign in"),
    field("Username or e-mail", "login", { name: "login", autocomplete: "username", required: true }),
    field("Password", "login", { name: "password", type: "password", autocomplete: "current-password", required: true }),
    field("Workspace (optional)", "login", { name: "workspace", placeholder: "default", value: params.get("workspace") || "" }),
    h("p", { class: "form-error", role: "alert", id: "login-error" }),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  const registerForm = h(
    "form",
    { class: "auth-form", "aria-labelledby": "register-title", id: "register-form" },
    h("h2", { id: "register-title" }, "Create an account"),
    field("E-mail", "register", { name: "email", type: "email", autocomplete: "email", required: true }),
    field("Username", "register", { name: "username", autocomplete: "username", required: true }),
    field("Display name (optional)", "register", { name: "display_name", autocomplete: "name" }),
    field("Password", "register", { name: "password", type: "password", autocomplete: "new-password", required: true }),
    field("Workspace (optional)", "register", { name: "workspace", placeholder: "default", value: params.get("workspace") || "" }),
    field("Invite code (if the workspace needs one)", "register", { name: "invite_code", value: params.get("invite") || "" }),
    h("p", { class: "form-error", role: "alert", id: "register-error" }),
    h("button", { type: "submit", class: "primary" }, "Create account"),
  );

  // The answer is shown in the form that was sent, next to its button: on a phone the
  // registration form is a screen below the top of the page, where nobody would see it.
  function explainIn(form, err) {
    const fields = Object.entries(err.fields || {}).map(([name, texts]) => `${name}: ${[].concat(texts).join(" ")}`);
    status.textContent = "";
    for (const other of root.querySelectorAll(".auth-form .form-error")) other.textContent = "";
    form.querySelector(".form-error").textContent = [err.message, ...fields].join(" — ");
  }

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(loginForm));
    const body = { password: data.password, device_name: "web client" };
    body[data.login.includes("@") ? "email" : "username"] = data.login.trim();
    if (data.workspace.trim()) body.workspace = data.workspace.trim();
    try {
      const answer = await api.post("/auth/login", body);
      startChat(answer.token);
    } catch (err) {
      explainIn(loginForm, err);
    }
  });
  registerForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(registerForm));
    const body = { email: data.email.trim(), username: data.username.trim(), password: data.password, device_name: "web client" };
    for (const name of ["display_name", "workspace", "invite_code"]) if (data[name].trim()) body[name] = data[name].trim();
    try {
      const answer = await api.post("/auth/register", body);
      startChat(answer.token);
    } catch (err) {
      explainIn(registerForm, err);
    }
  });

  root.append(
    h(
      "main",
      { class: "auth", id: "main" },
      h("h1", {}, "slackclone"),
      status,
      h("div", { class: "auth-forms" }, loginForm, registerForm),
    ),
  );
  loginForm.querySelector("input").focus();
}

const saved = localStorage.getItem(TOKEN_KEY);
if (saved) startChat(saved);
else showAuth();
