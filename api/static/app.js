// Shared by every page: calling the JSON API as the signed-in user, copy buttons, countdowns.
"use strict";

// Calls that change something carry the page header (the API's CSRF rule for cookie sessions).
async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-spacecast-page": "1" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : `${response.status} ${response.statusText}`;
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return data;
}

function clock(seconds) {
  const total = Math.max(Math.floor(seconds), 0);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(s).padStart(2, "0")}`;
}

function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  let copied = false;
  try { await navigator.clipboard.writeText(field.value); copied = true; } catch (_) { copied = false; }
  const status = document.getElementById("copy-status");
  if (status) status.textContent = copied ? "Link copied." : "Select the link and copy it.";
});

function tickCountdowns() {
  for (const element of document.querySelectorAll("time.countdown")) {
    const left = (Date.parse(element.getAttribute("datetime")) - Date.now()) / 1000;
    if (Number.isNaN(left)) continue;
    const days = Math.floor(left / 86400), hours = Math.floor((left % 86400) / 3600);
    const minutes = Math.floor((left % 3600) / 60);
    element.textContent = left <= 0 ? "now" : `${days} d ${hours} h ${minutes} min`;
  }
}
tickCountdowns();
setInterval(tickCountdowns, 30000);
