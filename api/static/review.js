// Moderator's review page: the evidence player starts at the reported moment on the chosen
// track; transcript lines seek; search and the decision go through the moderation API.
"use strict";
(function () {
  const audio = document.getElementById("evidence");
  if (!audio) return;
  const jump = parseFloat(audio.dataset.jump) || 0;
  function toReported() {
    audio.currentTime = jump;
  }
  if (audio.readyState >= 1) toReported(); else audio.addEventListener("loadedmetadata", toReported, { once: true });
  document.getElementById("jump").addEventListener("click", () => {
    toReported();
    audio.play().catch(() => {});
  });
  for (const radio of document.querySelectorAll("input[name=source]")) {
    radio.addEventListener("change", () => {
      audio.src = radio.value;
      audio.addEventListener("loadedmetadata", toReported, { once: true });
    });
  }
  for (const line of document.querySelectorAll("#review-transcript .line")) {
    line.addEventListener("click", () => {
      audio.currentTime = Math.max(parseFloat(line.dataset.start), 0);
      audio.play().catch(() => {});
    });
  }

  const search = document.getElementById("search");
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = document.getElementById("search-results");
    list.textContent = "";
    const q = document.getElementById("q").value.trim();
    if (!q) return;
    try {
      const hits = await api("GET", `${search.dataset.url}?q=${encodeURIComponent(q)}`);
      if (!hits.length) list.append(Object.assign(document.createElement("li"), { textContent: `Nothing says "${q}".` }));
      for (const hit of hits) {
        const item = document.createElement("li");
        item.textContent = `${clock(hit.start_s)} ${hit.speaker}${hit.published ? "" : " (not published)"}: ${hit.text}`;
        list.append(item);
      }
    } catch (error) {
      list.append(Object.assign(document.createElement("li"), { textContent: error.message, className: "error" }));
    }
  });

  const decide = document.getElementById("decide");
  if (decide) {
    decide.addEventListener("submit", async (event) => {
      event.preventDefault();
      const errorBox = document.getElementById("decide-error");
      const choice = decide.querySelector("input[name=decision]:checked");
      const reason = document.getElementById("reason").value.trim();
      if (!choice) return showError(errorBox, "Choose a decision.");
      if (reason.length < 3) return showError(errorBox, "Give the reason (at least 3 characters); it goes in the audit trail.");
      showError(errorBox, "");
      try {
        await api("POST", decide.dataset.url, { decision: choice.value, reason });
        location.reload();
      } catch (error) {
        showError(errorBox, error.message);
      }
    });
  }
})();
