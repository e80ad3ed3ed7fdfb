// Show page: each episode's play button plays it in the player at the foot of the page, from
// where the listener stopped it last (kept by the episode page's player too).
"use strict";
(function () {
  const audio = document.getElementById("show-player");
  if (!audio) return;
  const bar = document.getElementById("now-playing");
  const title = document.getElementById("now-title");
  const buttons = Array.from(document.querySelectorAll("button.play"));
  let playing = null;

  function key(button) { return `spacecast:position:${button.dataset.episode}`; }
  function remembered(button) {
    try { return parseFloat(localStorage.getItem(key(button))) || 0; } catch (_) { return 0; }
  }
  function remember() {
    if (!playing || audio.currentTime < 1) return;
    try {
      if (audio.ended) localStorage.removeItem(key(playing));
      else localStorage.setItem(key(playing), audio.currentTime.toFixed(1));
    } catch (_) { /* not kept */ }
  }

  function show() {
    for (const button of buttons) {
      button.firstChild.textContent = button === playing && !audio.paused ? "Pause" : "Play";
    }
  }

  buttons.forEach((button) => button.addEventListener("click", () => {
    if (button === playing) {
      if (audio.paused) audio.play().catch(() => {}); else audio.pause();
      return;
    }
    remember();
    playing = button;
    audio.src = button.dataset.src;
    title.textContent = button.dataset.title;
    title.href = `/e/${button.dataset.episode}`;
    bar.hidden = false;
    const from = remembered(button);
    audio.addEventListener("loadedmetadata", () => { if (from) audio.currentTime = from; }, { once: true });
    audio.play().catch(() => {});
  }));

  ["play", "pause", "ended"].forEach((name) => audio.addEventListener(name, show));
  ["pause", "ended"].forEach((name) => audio.addEventListener(name, remember));
  window.addEventListener("pagehide", remember);
})();
