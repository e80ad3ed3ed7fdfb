// The participant's consent page: an invite link's secret (after #) is exchanged once for the
// participant's own key, kept in this browser's HttpOnly sign-in cookie; then the page shows
// and saves their answers.
"use strict";

(async function claimFromLink() {
  const secret = decodeURIComponent(window.location.hash.slice(1));
  if (!secret) return;
  history.replaceState(null, "", window.location.pathname); // the secret leaves the address bar
  const status = document.getElementById("claim-status");
  status.textContent = "Opening your invite…";
  try {
    await api("POST", "/participants/claim", { secret, session: true });
    window.location.replace("/consent");
  } catch (error) {
    status.textContent = "";
    showError(document.getElementById("claim-error"), error.message);
  }
})();

const form = document.getElementById("consent-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answers = {};
    for (const purpose of ["record", "publish", "transcribe", "clip"]) {
      const chosen = form.querySelector(`input[name="${purpose}"]:checked`);
      if (chosen) answers[purpose] = chosen.value === "yes";
    }
    const saved = document.getElementById("consent-saved");
    try {
      await api("POST", "/me/consent", { answers });
      saved.textContent = "Saved. Your answers apply at once.";
    } catch (error) {
      saved.textContent = `Not saved: ${error.message}`;
    }
  });
}

const erase = document.getElementById("erase");
if (erase) {
  erase.addEventListener("click", async () => {
    const status = document.getElementById("erase-status");
    if (!window.confirm("Erase your voice and words from this room? This cannot be undone.")) return;
    erase.disabled = true;
    try {
      await api("POST", "/me/erasure");
      window.location.reload();
    } catch (error) {
      status.textContent = `Not done: ${error.message}`;
      erase.disabled = false;
    }
  });
}
