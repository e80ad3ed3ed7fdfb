// The editor: a draft edit list made from ticked transcript lines (cut them, or mute their
// speaker over them) and a silence rule, saved as a new version through the versions API;
// each version previewed, published, or gone back to.
"use strict";
(function () {
  const root = document.getElementById("editor");
  const episode = root.dataset.episode;
  const base = `/episodes/${episode}/versions`;
  const draft = [];
  const list = document.getElementById("draft");
  const empty = document.getElementById("draft-empty");
  const errorBox = document.getElementById("edit-error");
  const status = document.getElementById("edit-status");
  const PAD_S = 0.05; // around the first and last word: the crossfade never eats a kept word

  function describe(op) {
    if (op.op === "cut") return `Cut ${clock(op.start_s)} (room ${op.start_s.toFixed(2)}-${op.end_s.toFixed(2)} s)`;
    if (op.op === "mute") return `Mute ${op.name} (room ${op.start_s.toFixed(2)}-${op.end_s.toFixed(2)} s)`;
    if (op.op === "intro") return `Intro: ${op.name}`;
    if (op.op === "outro") return `Outro: ${op.name}`;
    if (op.op === "bed") return `Music bed: ${op.name}`;
    return `Shorten silences over ${op.longer_than_s} s to ${op.to_s} s`;
  }

  function render() {
    list.replaceChildren(...draft.map((op, index) => {
      const li = document.createElement("li");
      li.append(describe(op), " ");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove: ${describe(op)}`);
      remove.addEventListener("click", () => { draft.splice(index, 1); render(); });
      li.append(remove);
      return li;
    }));
    empty.hidden = draft.length > 0;
  }

  function ticked() {
    const boxes = Array.from(document.querySelectorAll(".pick-line input:checked"));
    return boxes.map((box) => ({
      box,
      start: parseFloat(box.dataset.roomStart),
      end: parseFloat(box.dataset.roomEnd),
      speaker: box.dataset.speaker,
      name: box.dataset.name,
    })).sort((a, b) => a.start - b.start);
  }

  document.getElementById("cut-lines").addEventListener("click", () => {
    // Consecutive ticked lines make one cut, from the first word to the last.
    const lines = ticked();
    let current = null;
    for (const line of lines) {
      if (current && line.start <= current.end + 1.0) current.end = Math.max(current.end, line.end);
      else { current = { op: "cut", start_s: line.start - PAD_S, end_s: line.end + PAD_S }; draft.push(current); }
      line.box.checked = false;
    }
    for (const op of draft) if (op.op === "cut") op.end_s = Math.max(op.end_s, op.start_s + 0.1);
    render();
  });

  document.getElementById("mute-lines").addEventListener("click", () => {
    for (const line of ticked()) {
      draft.push({ op: "mute", speaker_id: line.speaker, name: line.name,
                   start_s: line.start - PAD_S, end_s: line.end + PAD_S });
      line.box.checked = false;
    }
    render();
  });

  document.getElementById("add-silences").addEventListener("click", () => {
    const longer = parseFloat(document.getElementById("longer-than").value);
    const keep = parseFloat(document.getElementById("keep").value);
    const index = draft.findIndex((op) => op.op === "shorten_silences");
    const op = { op: "shorten_silences", longer_than_s: longer, to_s: keep };
    if (index >= 0) draft[index] = op; else draft.push(op);
    render();
  });

  document.getElementById("save").addEventListener("click", async () => {
    showError(errorBox, "");
    const operations = draft.map(({ name, ...op }) => {
      if (op.start_s !== undefined) op.start_s = Math.max(0, Math.round(op.start_s * 1000) / 1000);
      if (op.end_s !== undefined) op.end_s = Math.round(op.end_s * 1000) / 1000;
      return op;
    });
    try {
      const version = await api("POST", base, { operations, note: document.getElementById("note").value });
      const preview = await api("GET", `${base}/${version.number}/preview`);
      status.textContent = `Saved version ${version.number}: it saves ${preview.saved_s.toFixed(1)} s. Publish it below.`;
      setTimeout(() => location.reload(), 1500);
    } catch (error) {
      showError(errorBox, error.message);
    }
  });

  document.getElementById("versions").addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const number = button.dataset.number;
    showError(errorBox, "");
    try {
      if (button.classList.contains("preview")) {
        const p = await api("GET", `${base}/${number}/preview`);
        document.getElementById("preview-result").textContent =
          `Version ${number}: ${clock(p.duration_s)} long, ${p.saved_s.toFixed(1)} s shorter than the room` +
          (p.silence_saved_s ? ` (${p.silence_saved_s.toFixed(1)} s of it from silences)` : "") +
          `, ${p.cuts.length} cut${p.cuts.length === 1 ? "" : "s"}, ${p.mutes.length} mute${p.mutes.length === 1 ? "" : "s"}.`;
        listCuts(number, p.cuts);
        return;
      }
      button.disabled = true;
      const path = button.classList.contains("publish") ? "publish" : "revert";
      await api("POST", `${base}/${number}/${path}`);
      status.textContent = "Publishing: the episode is being made again.";
      waitForRendering();
    } catch (error) {
      showError(errorBox, error.message);
      button.disabled = false;
    }
  });

  // Each cut of a previewed version can be heard: the seconds around it, rendered on request.
  const cutList = document.getElementById("cut-previews");
  function listCuts(number, cuts) {
    cutList.replaceChildren();
    cuts.forEach((cut, index) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "listen";
      button.dataset.url = `${base}/${number}/cuts/${index + 1}/audio`;
      button.textContent = `Listen around cut ${index + 1} (at ${clock(cut.at_s)})`;
      item.append(button);
      cutList.append(item);
    });
  }
  cutList.addEventListener("click", (event) => {
    const button = event.target.closest("button.listen");
    if (!button) return;
    let player = button.parentElement.querySelector("audio");
    if (!player) {
      player = document.createElement("audio");
      player.controls = true;
      player.preload = "auto";
      player.setAttribute("aria-label", button.textContent);
      player.addEventListener("error", () => showError(errorBox, `${button.textContent}: the preview could not be rendered`));
      button.after(player);
    }
    player.src = button.dataset.url;
    player.play().catch(() => {});
  });

  // The show's own audio: uploaded here (checked like a track), added as intro, outro or bed.
  const pick = document.getElementById("host-audio-pick");
  document.getElementById("add-host-audio").addEventListener("click", () => {
    const option = pick.selectedOptions[0];
    if (!option) return showError(errorBox, "Upload audio of your own first.");
    const part = document.getElementById("host-audio-part").value;
    const index = draft.findIndex((op) => op.op === part);
    const op = { op: part, audio_id: option.value, name: option.textContent.trim() };
    if (index >= 0) draft[index] = op; else draft.push(op);
    render();
  });
  // Deleting one: refused (409, naming the versions) while the episode as published or being
  // made plays it; the page shows the API's words.
  document.getElementById("delete-host-audio").addEventListener("click", async () => {
    const option = pick.selectedOptions[0];
    if (!option) return showError(errorBox, "There is no audio of your own to delete.");
    showError(errorBox, "");
    const show = document.getElementById("host-audio").dataset.show;
    const name = option.textContent.trim();
    try {
      await api("DELETE", `/shows/${show}/audio/${encodeURIComponent(option.value)}`);
    } catch (error) {
      return showError(errorBox, `Not deleted: ${error.message}`);
    }
    for (let i = draft.length - 1; i >= 0; i--) if (draft[i].audio_id === option.value) draft.splice(i, 1);
    option.remove();
    render();
    status.textContent = `Deleted ${name}.`;
  });
  document.getElementById("upload-host-audio").addEventListener("click", async () => {
    const file = document.getElementById("host-audio-file").files[0];
    if (!file) return showError(errorBox, "Choose an audio file to upload.");
    showError(errorBox, "");
    const show = document.getElementById("host-audio").dataset.show;
    const response = await fetch(`/shows/${show}/audio?name=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file, credentials: "same-origin",
      headers: { "content-type": "application/octet-stream", "x-spacecast-page": "1" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) return showError(errorBox, body.detail || `upload refused (${response.status})`);
    const option = document.createElement("option");
    option.value = body.id;
    option.textContent = `${body.name} (${body.duration_s.toFixed(1)} s)`;
    pick.append(option);
    pick.value = body.id;
    status.textContent = `Uploaded ${body.name}: add it as an intro, an outro or a music bed.`;
  });

  async function waitForRendering() {
    try {
      const listed = await api("GET", base);
      const space = await api("GET", `/spaces/${root.dataset.space}`);
      if (listed.rendered_version === listed.edit_version && space.status === "published") {
        status.textContent = `Version ${listed.rendered_version} is published.`;
        return location.reload();
      }
    } catch (error) {
      showError(errorBox, `Progress is not updating: ${error.message}`);
    }
    setTimeout(waitForRendering, 2000);
  }

  render();
  if (root.dataset.chosen !== root.dataset.rendered) waitForRendering();
})();
