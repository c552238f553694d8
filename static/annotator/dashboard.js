// Dashboard: start an export through the exports API and follow its progress.

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

const form = document.getElementById("export-form");
if (form) {
  const status = document.getElementById("export-status");
  const button = form.querySelector("button[type=submit]");

  async function follow(url) {
    for (let i = 0; i < 600; i++) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) break;
      const job = await response.json();
      const phase = job.status === "running" && job.phase ? ` · ${job.phase}` : "";
      status.textContent = `${job.status}${phase} · ${Math.round(100 * (job.progress || 0))}%`;
      if (job.status === "done" || job.status === "failed") {
        window.location.reload();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const formats = [...form.querySelectorAll("input[name=formats]:checked")].map((box) => box.value);
    if (!formats.length) {
      status.textContent = "Pick at least one format.";
      return;
    }
    button.disabled = true;
    status.textContent = "Starting…";
    try {
      const response = await fetch(form.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ formats }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        status.textContent = body.message || `Export refused (HTTP ${response.status}).`;
        button.disabled = false;
        return;
      }
      status.textContent = `${body.status || "queued"}…`;
      await follow(`${form.dataset.endpoint}/${body.id}`);
    } catch (error) {
      status.textContent = `Export failed to start: ${error}`;
    } finally {
      button.disabled = false;
    }
  });
}
