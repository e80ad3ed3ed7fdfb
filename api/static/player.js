// Episode page: the transcript line being heard is highlighted (and scrolled to), and choosing a
// line plays from there. "#t=SECONDS" in the address starts there.
"use strict";
(function () {
  const audio = document.getElementById("player");
  const lines = Array.from(document.querySelectorAll("#transcript .line"));
  const follow = document.getElementById("follow");
  if (!audio) return;
  const spans = lines.map((l) => [parseFloat(l.dataset.start), parseFloat(l.dataset.end)]);
  let current = -1;

  function lineAt(t) {
    // The last line that has started; a pause between lines keeps the previous one lit.
    let found = -1;
    for (let i = 0; i < spans.length && spans[i][0] <= t + 0.05; i++) found = i;
    return found;
  }

  function highlight() {
    const index = lineAt(audio.currentTime);
    if (index === current) return;
    if (current >= 0) { lines[current].classList.remove("active"); lines[current].removeAttribute("aria-current"); }
    current = index;
    if (index < 0) return;
    lines[index].classList.add("active");
    lines[index].setAttribute("aria-current", "true");
    if (follow && follow.checked) lines[index].scrollIntoView({ block: "nearest" });
  }

  audio.addEventListener("timeupdate", highlight);
  audio.addEventListener("seeked", highlight);
  lines.forEach((line, i) => line.addEventListener("click", () => {
    audio.currentTime = spans[i][0];
    audio.play().catch(() => {});
    highlight();
  }));

  const match = /t=([0-9.]+)/.exec(location.hash);
  if (match) {
    const start = () => { audio.currentTime = parseFloat(match[1]); highlight(); };
    if (audio.readyState >= 1) start(); else audio.addEventListener("loadedmetadata", start, { once: true });
  }
})();
