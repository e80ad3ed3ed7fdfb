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
