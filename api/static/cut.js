// Clip maker: a range chosen on the waveform, by transcript lines or typed in is checked by the
// API (duration, who is heard, whether they allow clips) before "Make the clip" is enabled.
"use strict";
(function () {
  const form = document.getElementById("cut-form");
  const episode = form.dataset.episode;
  const audio = document.getElementById("player");
  const canvas = document.getElementById("wave");
  const duration = parseFloat(canvas.dataset.duration);
  const startField = document.getElementById("start");
  const endField = document.getElementById("end");
  const titleField = document.getElementById("title");
  const make = document.getElementById("make");
  const checkBox = document.getElementById("check");
  const errorBox = document.getElementById("cut-error");
  const boxes = Array.from(document.querySelectorAll(".pick input[type=checkbox]"));
  let peaks = null;
  let checked = null; // the last check's answer, for the range now in the fields
  let sequence = 0;

  function range() {
    const start = parseFloat(startField.value), end = parseFloat(endField.value);
    return Number.isFinite(start) && Number.isFinite(end) ? [start, end] : null;
  }

  function setRange(start, end, fromLines) {
    startField.value = Math.max(0, start).toFixed(1);
    endField.value = Math.min(duration, end).toFixed(1);
    if (!fromLines) boxes.forEach((box) => { box.checked = false; });
    changed();
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const r = range();
    if (r) {
      ctx.fillStyle = "#cfe0ff";
      ctx.fillRect((r[0] / duration) * w, 0, ((r[1] - r[0]) / duration) * w, h);
    }
    if (peaks) {
      ctx.fillStyle = "#1f3b73";
      for (let x = 0; x < peaks.length; x++) {
        const bar = Math.max(1, peaks[x] * (h - 4));
        ctx.fillRect(x, (h - bar) / 2, 1, bar);
      }
    }
    ctx.fillStyle = "#a4161a";
    ctx.fillRect((audio.currentTime / duration) * w, 0, 2, h);
  }

  async function loadWaveform() {
    const status = document.getElementById("wave-status");
    try {
      const data = await (await fetch(audio.currentSrc || audio.src)).arrayBuffer();
      const context = new (window.AudioContext || window.webkitAudioContext)();
      const buffer = await context.decodeAudioData(data);
      const samples = buffer.getChannelData(0);
      const step = Math.max(1, Math.floor(samples.length / canvas.width));
      peaks = new Float32Array(canvas.width);
      let top = 0;
      for (let x = 0; x < canvas.width; x++) {
        let peak = 0;
        for (let i = x * step; i < Math.min((x + 1) * step, samples.length); i++) {
          const v = Math.abs(samples[i]);
          if (v > peak) peak = v;
        }
        peaks[x] = peak;
        top = Math.max(top, peak);
      }
      if (top > 0) for (let x = 0; x < peaks.length; x++) peaks[x] /= top;
      context.close();
      status.textContent = "Drag across the waveform to select a range.";
    } catch (error) {
      status.textContent = "The waveform could not be drawn here; use the transcript or the time fields.";
    }
    draw();
  }

  function secondsAt(event) {
    const box = canvas.getBoundingClientRect();
    return Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1) * duration;
  }
  let anchor = null;
  canvas.addEventListener("pointerdown", (event) => {
    anchor = secondsAt(event);
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (anchor === null) return;
    const t = secondsAt(event);
    startField.value = Math.min(anchor, t).toFixed(1);
    endField.value = Math.max(anchor, t).toFixed(1);
    draw();
  });
  canvas.addEventListener("pointerup", (event) => {
    if (anchor === null) return;
    const t = secondsAt(event);
    const [a, b] = [Math.min(anchor, t), Math.max(anchor, t)];
    anchor = null;
    setRange(a, b, false);
  });

  boxes.forEach((box) => box.addEventListener("change", () => {
    const picked = boxes.filter((b) => b.checked);
    if (!picked.length) return;
    const start = Math.min(...picked.map((b) => parseFloat(b.dataset.start)));
    const end = Math.max(...picked.map((b) => parseFloat(b.dataset.end)));
    // Lines between the first and last ticked one are part of the range too.
    boxes.forEach((b) => {
      if (parseFloat(b.dataset.start) >= start && parseFloat(b.dataset.end) <= end) b.checked = true;
    });
    setRange(start - 0.2, end + 0.2, true);
  }));

  startField.addEventListener("input", changed);
  endField.addEventListener("input", changed);

  let timer = null;
  function changed() {
    checked = null;
    make.disabled = true;
    draw();
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }

  async function check() {
    const r = range();
    const verdict = document.getElementById("verdict");
    const speakers = document.getElementById("speakers");
    const length = document.getElementById("duration");
    checkBox.classList.remove("ok", "blocked");
    if (!r) { length.textContent = "Select a range."; speakers.textContent = ""; verdict.textContent = ""; return; }
    if (r[1] <= r[0]) {
      length.textContent = `The end (${r[1]} s) must come after the start (${r[0]} s).`;
      speakers.textContent = ""; verdict.textContent = "";
      checkBox.classList.add("blocked");
      return;
    }
    const mine = ++sequence;
    length.textContent = `${clock(r[0])}–${clock(r[1])}: ${(r[1] - r[0]).toFixed(1)} s. Checking…`;
    try {
      const answer = await api("POST", `/episodes/${episode}/clips/check`, { start_s: r[0], end_s: r[1] });
      if (mine !== sequence) return;
      checked = answer;
      length.textContent = `${clock(answer.start_s)}–${clock(answer.end_s)}: ${answer.duration_s.toFixed(1)} s`;
      speakers.textContent = answer.speakers.length ? `Heard: ${answer.speakers.join(", ")}` : "Nobody speaks in this range.";
      verdict.textContent = answer.allowed ? "Everyone heard allows clips." : answer.problems.join(" ");
      checkBox.classList.add(answer.allowed ? "ok" : "blocked");
      make.disabled = !answer.allowed;
    } catch (error) {
      if (mine !== sequence) return;
      verdict.textContent = error.message;
      checkBox.classList.add("blocked");
    }
  }

  document.getElementById("preview").addEventListener("click", () => {
    const r = range();
    if (!r) return;
    audio.currentTime = r[0];
    audio.play().catch(() => {});
    const stop = () => { if (audio.currentTime >= r[1]) { audio.pause(); audio.removeEventListener("timeupdate", stop); } };
    audio.addEventListener("timeupdate", stop);
  });
  audio.addEventListener("timeupdate", draw);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const r = range();
    if (!r || !checked || !checked.allowed) return;
    showError(errorBox, "");
    make.disabled = true;
    const result = document.getElementById("result");
    const status = document.getElementById("result-status");
    try {
      let clip = await api("POST", `/episodes/${episode}/clips`, { start_s: r[0], end_s: r[1], title: titleField.value });
      result.hidden = false;
      status.textContent = "Cutting the clip…";
      const deadline = Date.now() + 120000;
      while (clip.status === "queued" || clip.status === "rendering") {
        if (Date.now() > deadline) throw new Error("The clip is taking long; find it later on the episode page.");
        await new Promise((done) => setTimeout(done, 500));
        clip = await api("GET", `/clips/${clip.id}`);
      }
      if (clip.status !== "ready") throw new Error(clip.error || `The clip is ${clip.status}.`);
      status.textContent = `Your clip is ready (${clip.duration_s.toFixed(1)} s with ${clip.speakers.join(", ")}).`;
      document.getElementById("result-url").value = clip.share_url;
      const link = document.getElementById("result-link");
      link.href = `/c/${clip.id}`;
      link.dataset.clip = clip.id;
    } catch (error) {
      showError(errorBox, error.message);
      make.disabled = false;
    }
  });

  loadWaveform();
})();
