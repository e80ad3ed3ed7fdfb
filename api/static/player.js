// Episode page: the transcript line being heard is highlighted (and scrolled to); choosing a line,
// a turn's time or a chapter plays from there ("#t=SECONDS" in the address starts there); the
// player remembers where the listener stopped; "share this moment" links to the second playing;
// keyboard shortcuts for play/pause and 15 s back and forward.
"use strict";
(function () {
  const audio = document.getElementById("player");
  if (!audio) return;
  const lines = Array.from(document.querySelectorAll("#transcript .line"));
  const follow = document.getElementById("follow");
  const spans = lines.map((l) => [parseFloat(l.dataset.start), parseFloat(l.dataset.end)]);
  const positionKey = `spacecast:position:${audio.dataset.episode}`;
  const STEP_S = 15;
  let current = -1;
  let savedAt = -1;  // the position last kept (savePosition, below)

  // Storage may be refused (private windows, settings): the page works without it.
  function stored(key) { try { return localStorage.getItem(key); } catch (_) { return null; } }
  function store(key, value) {
    try { if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (_) { /* not kept */ }
  }

  function lineAt(t) {
    // The last line that has started; a pause between lines keeps the previous one lit.
    let found = -1;
    for (let i = 0; i < spans.length && spans[i][0] <= t + 0.05; i++) found = i;
    return found;
  }

  function highlight() {
    const index = lineAt(audio.currentTime);
    if (index === current) return;
    if (current >= 0) {
      lines[current].classList.remove("active");
      lines[current].removeAttribute("aria-current");
      lines[current].closest(".turn").classList.remove("speaking");
    }
    current = index;
    if (index < 0) return;
    lines[index].classList.add("active");
    lines[index].setAttribute("aria-current", "true");
    lines[index].closest(".turn").classList.add("speaking");
    if (follow && follow.checked) lines[index].scrollIntoView({ block: "nearest" });
  }

  function whenReady(action) {
    if (audio.readyState >= 1) action(); else audio.addEventListener("loadedmetadata", action, { once: true });
  }

  function seek(seconds, play) {
    whenReady(() => {
      const end = Number.isFinite(audio.duration) ? audio.duration : seconds;
      audio.currentTime = Math.min(Math.max(seconds, 0), end);
      highlight();
      savePosition();  // the listener's move is kept at once, not when the media catches up
      if (play) audio.play().catch(() => {});
    });
  }

  audio.addEventListener("timeupdate", highlight);
  audio.addEventListener("seeked", highlight);
  lines.forEach((line, i) => {
    line.addEventListener("click", () => seek(spans[i][0], true));
    line.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      seek(spans[i][0], true);
    });
  });

  // "#t=SECONDS": opened with it, the page starts there; a turn's time or a chapter plays from it.
  function hashTime() {
    const match = /(?:^#|&)t=([0-9]+(?:\.[0-9]+)?)/.exec(location.hash);
    return match ? parseFloat(match[1]) : null;
  }
  window.addEventListener("hashchange", () => { const t = hashTime(); if (t !== null) seek(t, true); });

  // Where the listener stopped: kept while playing, offered back on the next visit.
  function savePosition() {
    const t = audio.currentTime;
    if (audio.ended || (Number.isFinite(audio.duration) && t > audio.duration - 5)) {
      store(positionKey, null);  // heard to the end: nothing to come back to
      savedAt = -1;  // so a move back from the end is kept again
    } else if (t >= 1 && Math.abs(t - savedAt) >= 1) { store(positionKey, t.toFixed(1)); savedAt = t; }
  }
  audio.addEventListener("timeupdate", () => { if (Math.abs(audio.currentTime - savedAt) >= 5) savePosition(); });
  ["pause", "seeked", "ended"].forEach((name) => audio.addEventListener(name, savePosition));
  window.addEventListener("pagehide", savePosition);

  const resume = document.getElementById("resume");
  const opened = hashTime();
  const left = parseFloat(stored(positionKey));
  if (opened !== null) seek(opened, false);
  else if (left >= 1) {
    seek(left, false);
    document.getElementById("resume-text").textContent = `Continuing where you stopped, at ${clock(left)}.`;
    resume.hidden = false;
  }
  document.getElementById("restart").addEventListener("click", () => {
    seek(0, false);
    store(positionKey, null);
    resume.hidden = true;
  });

  // Share this moment: a link to this page at the second playing.
  document.getElementById("share-moment").addEventListener("click", () => {
    const second = Math.floor(audio.currentTime);
    const field = document.getElementById("share-url");
    field.value = `${audio.dataset.pageUrl}#t=${second}`;
    document.getElementById("share").hidden = false;
    document.getElementById("copy-status").textContent = `Link to ${clock(second)} ready to copy.`;
    field.focus();
    field.select();
  });

  function step(seconds) { seek(audio.currentTime + seconds, false); }
  document.getElementById("back").addEventListener("click", () => step(-STEP_S));
  document.getElementById("forward").addEventListener("click", () => step(STEP_S));

  // Single-key shortcuts can be switched off (WCAG 2.1.4), and never act while typing or on a
  // control that has its own use for the key.
  const shortcuts = document.getElementById("shortcuts");
  shortcuts.checked = stored("spacecast:shortcuts") !== "off";
  shortcuts.addEventListener("change", () => store("spacecast:shortcuts", shortcuts.checked ? null : "off"));
  const KEYS = { " ": "toggle", k: "toggle", j: "back", arrowleft: "back", l: "forward", arrowright: "forward" };
  document.addEventListener("keydown", (event) => {
    if (!shortcuts.checked || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const action = KEYS[event.key.toLowerCase()];
    if (!action) return;
    if (event.target.closest("input, textarea, select, button, a, audio, summary, [role=button], [contenteditable]")) return;
    event.preventDefault();
    if (action === "toggle") {
      if (audio.paused) audio.play().catch(() => {});
      else { audio.pause(); savePosition(); }
    }
    else step(action === "back" ? -STEP_S : STEP_S);
  });
})();
