// Host's space page: progress bars follow the stages while the space is processed; the publish
// button publishes without those who have not answered (the host's "exclude" decision).
"use strict";
(function () {
  const root = document.getElementById("space");
  const id = root.dataset.space;
  const shown = root.dataset.status;
  const button = document.getElementById("publish");
  const errorBox = document.getElementById("publish-error");

  button.addEventListener("click", async () => {
    showError(errorBox, "");
    button.disabled = true;
    try {
      await api("POST", `/spaces/${id}/decision`, { missing: "exclude" });
      location.reload();
    } catch (error) {
      showError(errorBox, error.message);
      button.disabled = false;
    }
  });

  async function poll() {
    let space;
    try {
      space = await api("GET", `/spaces/${id}`);
    } catch (error) {
      showError(errorBox, `Progress is not updating: ${error.message}`);
      return setTimeout(poll, 5000);
    }
    const items = Array.from(document.querySelectorAll("#stages li"));
    const known = new Set(items.map((li) => `${li.dataset.stage}/${li.dataset.participant}`));
    const arrived = space.stages.some((s) => !known.has(`${s.stage}/${s.participant || ""}`));
    if (space.status !== shown || arrived) return location.reload();
    for (const stage of space.stages) {
      const li = items.find((l) => l.dataset.stage === stage.stage && l.dataset.participant === (stage.participant || ""));
      li.querySelector("progress").value = stage.progress;
      li.querySelector("progress").textContent = `${Math.round(stage.progress * 100)} %`;
      li.querySelector(".stage-status").textContent = stage.status;
    }
    document.getElementById("overall").value = space.progress;
    document.getElementById("overall-text").textContent = `${Math.round(space.progress * 100)} %`;
    setTimeout(poll, 1000);
  }
  if (shown === "processing" || shown === "recording") setTimeout(poll, 1000);

  // The host's own show notes replace the generated ones in the feed and on the episode page.
  const notes = document.getElementById("notes-form");
  if (notes) {
    const episode = document.getElementById("episode-text").dataset.episode;
    const status = document.getElementById("notes-status");
    notes.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("PUT", `/episodes/${episode}/notes`, { text: notes.elements.text.value });
        status.textContent = "Saved: the feed and the episode page show these notes.";
      } catch (error) {
        status.textContent = `Not saved: ${error.message}`;
      }
    });
    const reset = document.getElementById("notes-reset");
    if (reset) {
      reset.addEventListener("click", async () => {
        try {
          const out = await api("DELETE", `/episodes/${episode}/notes`);
          notes.elements.text.value = out.text;
          status.textContent = "The generated notes are published again.";
        } catch (error) {
          status.textContent = `Not changed: ${error.message}`;
        }
      });
    }
  }

  // Chapters: one a line, "M:SS title" (hours as "H:MM:SS"); sent as the whole list, the API
  // names the first wrong line (counted from 0) and nothing changes.
  const chapters = document.getElementById("chapters-form");
  if (chapters) {
    const episode = document.getElementById("episode-text").dataset.episode;
    const status = document.getElementById("chapters-status");
    chapters.addEventListener("submit", async (event) => {
      event.preventDefault();
      const marks = [];
      const lines = chapters.elements.chapters.value.split("\n").filter((l) => l.trim());
      for (const [index, line] of lines.entries()) {
        const match = /^\s*(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)\s*(.*)$/.exec(line);
        if (!match) {
          status.textContent = `Line ${index + 1}: start it with a time such as 12:30`;
          return;
        }
        const start = Number(match[1] || 0) * 3600 + Number(match[2]) * 60 + Number(match[3]);
        marks.push({ start_s: start, title: match[4].trim() || null });
      }
      try {
        await api("PUT", `/episodes/${episode}/chapters`, { chapters: marks });
        status.textContent = "Sent: the chapters are published once the episode is rendered again.";
      } catch (error) {
        status.textContent = `Not changed: ${error.message}`;
      }
    });
    document.getElementById("chapters-reset").addEventListener("click", async () => {
      try {
        await api("DELETE", `/episodes/${episode}/chapters`);
        status.textContent = "Generated chapters are published once the episode is rendered again.";
      } catch (error) {
        status.textContent = `Not changed: ${error.message}`;
      }
    });
  }

  // An appeal against a moderation decision goes to another moderator than the one who decided.
  for (const form of document.querySelectorAll("form.appeal")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const complaint = form.closest(".statement").dataset.complaint;
      const status = form.querySelector(".appeal-status");
      try {
        await api("POST", `/complaints/${complaint}/appeals`, { text: form.elements.text.value });
        status.textContent = "Appeal sent: another moderator will review the decision.";
        form.querySelector("button").disabled = true;
      } catch (error) {
        status.textContent = `Not sent: ${error.message}`;
      }
    });
  }
})();
