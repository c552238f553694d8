// Review page: keyboard shortcuts and per-label toggles of the point overlay.
// The page works without this script (plain form POST); this only adds comfort.

const form = document.getElementById("verdict-form");
const reason = document.getElementById("reason");

for (const box of document.querySelectorAll("[data-toggle-label]")) {
  box.addEventListener("change", () => {
    const label = box.dataset.toggleLabel;
    for (const mark of document.querySelectorAll(".qc-mark")) {
      if (mark.dataset.label === label) mark.style.display = box.checked ? "" : "none";
    }
  });
}

function submitVerdict(verdict) {
  if (!form) return;
  if (verdict === "invalidated" && !reason.value.trim()) {
    reason.focus();
    reason.setAttribute("aria-invalid", "true");
    reason.placeholder = "Say why the work is invalid, then press Invalidate again.";
    return;
  }
  const button = form.querySelector(`button[value="${verdict}"]`);
  form.requestSubmit(button);
}

if (form) {
  form.addEventListener("submit", (event) => {
    const verdict = event.submitter && event.submitter.value;
    if (verdict === "invalidated" && !reason.value.trim()) {
      event.preventDefault();
      submitVerdict("invalidated");
    }
  });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
  if (typing) return;
  if (event.key === "a") submitVerdict("accepted");
  else if (event.key === "i") submitVerdict("invalidated");
  else if (event.key === "n") {
    const skip = document.querySelector(".qc-verdict a.btn");
    if (skip) window.location.href = skip.href;
  }
});
