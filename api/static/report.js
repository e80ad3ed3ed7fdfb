// Episode page: a signed-in listener reports a problem, optionally about one speaker and a moment.
"use strict";
(function () {
  const form = document.getElementById("report-form");
  if (!form) return;
  const audio = document.getElementById("player");
  const from = document.getElementById("report-from");
  const to = document.getElementById("report-to");
  const error = document.getElementById("report-error");
  const status = document.getElementById("report-status");
  const send = document.getElementById("report-send");

  // What was just heard: the ten seconds before the playhead and five after it.
  document.getElementById("report-now").addEventListener("click", () => {
    const t = audio ? audio.currentTime : 0;
    from.value = Math.max(t - 10, 0).toFixed(1);
    to.value = (t + 5).toFixed(1);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    status.textContent = "";
    const category = document.getElementById("report-category").value;
    const speaker = document.getElementById("report-speaker").value;
    const start = from.value === "" ? null : parseFloat(from.value);
    const end = to.value === "" ? null : parseFloat(to.value);
    if (!category) return showError(error, "Choose what is wrong.");
    if ((start === null) !== (end === null)) return showError(error, "Give both times, or neither.");
    if (start !== null && !(start < end)) return showError(error, "The start must come before the end.");
    const body = {
      target: speaker ? "speaker" : start !== null ? "range" : "episode",
      episode_id: form.dataset.episode,
      category,
      text: document.getElementById("report-text").value,
    };
    if (speaker) body.speaker = speaker;
    if (start !== null) { body.start_s = start; body.end_s = end; }
    send.disabled = true;
    try {
      const complaint = await api("POST", "/complaints", body);
      status.textContent = "Thank you. Your report is with the moderators (reference " + complaint.id + ").";
      form.dataset.complaint = complaint.id;
    } catch (e) {
      showError(error, e.message);
    } finally {
      send.disabled = false;
    }
  });
})();
