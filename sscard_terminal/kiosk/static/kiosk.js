// The kiosk page: renders the server's view of the screen and sends the touches.
// Holds nothing of its own: no PIN (the PIN pad sends one-entry key tokens) and no
// personal data beyond what the current screen shows; welcome replaces everything.
"use strict";

let shown = "";
let lastTouch = 0;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  poll();
  return response;
}

function render(view) {
  document.body.dataset.screen = view.screen;
  document.body.className = view.pinpad.active ? "pin" : "";
  document.documentElement.lang = view.lang === "en" ? "en" : "zh-CN";
  document.getElementById("brand").textContent = view.brand;
  document.getElementById("lang").textContent = view.toggle;
  document.getElementById("idle").textContent = view.screen === "welcome" ? "" : view.idle;

  const main = document.getElementById("screen");
  main.replaceChildren();
  main.appendChild(el("h1", { id: "title" }, view.title));
  if (view.busy) main.appendChild(el("div", { class: "busy", id: "busy" }, view.busy));
  if (view.message) main.appendChild(el("div", { class: "message", id: "message" }, view.message));
  if (view.lines.length) {
    if (view.screen === "welcome") {
      for (const [, value] of view.lines) main.appendChild(el("div", { class: "welcome-line" }, value));
    } else {
      const table = el("table", { class: "lines", id: "lines" });
      for (const [label, value] of view.lines) {
        const row = el("tr");
        row.appendChild(el("td", { class: "label" }, label));
        row.appendChild(el("td", { class: "value" }, value));
        table.appendChild(row);
      }
      main.appendChild(table);
    }
  }
  if (view.prompt) main.appendChild(el("div", { class: "prompt", id: "prompt" }, view.prompt));
  const buttons = el("div", { class: "buttons" });
  for (const b of view.buttons) {
    const button = el("button", { type: "button", class: b.kind || "", "data-action": b.action,
                                  "data-arg": b.arg }, b.label);
    button.addEventListener("click", () => post("/api/action", { action: b.action, arg: b.arg }));
    buttons.appendChild(button);
  }
  main.appendChild(buttons);

  const pad = view.pinpad;
  document.querySelector(".device-label").textContent = pad.label;
  document.querySelector(".device-note").textContent = pad.note;
  document.getElementById("pin-display").textContent =
    pad.active ? "●".repeat(pad.count) + "  " + pad.display : "";
  const keys = document.getElementById("pin-keys");
  keys.replaceChildren();
  if (pad.active) {
    const add = (label, token, cls) => {
      const key = el("button", { type: "button", class: cls || "", "data-key": token }, label);
      key.addEventListener("click", () => post("/api/pinpad", { key: token }));
      keys.appendChild(key);
    };
    for (const k of pad.keys) add(k.label, k.token, "digit");
    add(pad.clear, "clear", "clear");
    add(pad.cancel, "cancel", "cancel");
    add(pad.ok, "ok", "ok");
  }
  if (view.screen === "welcome") document.getElementById("scan").focus();
}

let version = -1;

async function poll() {
  try {
    const response = await fetch("/api/view", { cache: "no-store" });
    show(await response.json());
  } catch (e) {
    // the kiosk server restarts: the long poll retries
  }
}

function show(view) {
  version = view.version;
  const text = JSON.stringify(view);
  if (text !== shown) {
    shown = text;
    render(view);
  }
}

async function watch() {
  // a long poll: the server answers when the screen changed (or after 20 s)
  for (;;) {
    try {
      const response = await fetch("/api/view?after=" + version, { cache: "no-store" });
      show(await response.json());
    } catch (e) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function setup() {
  document.getElementById("lang").addEventListener("click", () => {
    const view = JSON.parse(shown || "{}");
    post("/api/lang", { lang: view.lang === "en" ? "zh" : "en" });
  });
  const scan = document.getElementById("scan");
  scan.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      const code = scan.value.trim();
      scan.value = "";
      if (code) post("/api/scan", { code: code });
    }
  });
  document.addEventListener("pointerdown", () => {
    const now = Date.now();
    if (now - lastTouch > 1000) {
      lastTouch = now;
      post("/api/touch");
    }
    if (document.body.dataset.screen === "welcome") setTimeout(() => scan.focus(), 0);
  });
  poll().then(watch);
}

document.addEventListener("DOMContentLoaded", setup);
