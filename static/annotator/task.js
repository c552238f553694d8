// The task page controller: load the next task, render the requested
// attributes' widgets in order, keep per-attribute active time, autosave the
// draft, and submit exactly once per assignment.
import { apiCall, errorMessage, NetworkError, newUuid } from "./api.js";
import { el, kbd } from "./dom.js";
import { ActiveTimer, attachToDocument, formatMs } from "./timer.js";
import * as binary from "./widgets/binary.js";
import * as category from "./widgets/category.js";
import * as choice from "./widgets/choice.js";
import * as keywords from "./widgets/keywords.js";
import * as likert from "./widgets/likert.js";
import * as points from "./widgets/points.js";
import * as ranking from "./widgets/ranking.js";
import * as sxs from "./widgets/sxs.js";

const WIDGETS = { binary, category, choice, keywords, likert, points, ranking, sxs };
const AUTOSAVE_MS = 3000;
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000];

const app = document.getElementById("task-app");
const root = document.getElementById("task-root");
const statusBox = document.getElementById("task-status");
const cfg = {
  campaign: Number(app.dataset.campaign),
  radius: Number.parseFloat(app.dataset.pointRadiusFrac) || 0.05,
  nextUrl: app.dataset.apiNext,
  assignmentsUrl: app.dataset.apiAssignments,
  home: app.dataset.home,
};
const progress = {
  submitted: Number(app.dataset.submitted) || 0,
  session: 0,
};
const store = {
  submissionKey: (id) => `annotator:submission:${id}`,
  get(key) { try { return localStorage.getItem(key); } catch { return null; } },
  set(key, value) { try { localStorage.setItem(key, value); } catch { /* private mode: the draft still has it */ } },
  remove(key) { try { localStorage.removeItem(key); } catch { /* ignore */ } },
};

const timer = new ActiveTimer();
attachToDocument(timer);

// Everything about the task on screen; replaced for each assignment.
let task = null;

// ------------------------------------------------------------------ loading
function setStatus(text, kind = "") {
  statusBox.textContent = text;
  statusBox.className = `task-status${kind ? ` ${kind}` : ""}`;
  statusBox.hidden = !text;
}

function showCard(title, text, { retry = false } = {}) {
  task = null;
  app.querySelector(".task-meta").hidden = true;
  setStatus("");
  root.replaceChildren(el("section", { class: "card end-card" },
    el("h2", { text: title }),
    el("p", { text }),
    el("div", { class: "actions" },
      retry ? el("button", { type: "button", class: "btn primary", onclick: () => loadNext() }, "Try again") : null,
      el("a", { class: "btn", href: cfg.home }, "Back to campaigns"))));
}

// A reload needs nothing special: the server hands back the live assignment
// (with its draft) that this annotator already holds in the campaign.
const start = () => loadNext();

async function loadNext() {
  task = null;
  app.querySelector(".task-meta").hidden = true;
  root.replaceChildren();
  setStatus("Loading the next task…");
  let result;
  try {
    result = await apiCall("POST", cfg.nextUrl, { campaign: cfg.campaign });
  } catch (err) {
    showCard("Connection problem", "The server could not be reached.", { retry: true });
    return;
  }
  if (result.status === 204) {
    showCard("All done", "Nothing is left for you in this campaign right now. Thank you!");
    return;
  }
  if (result.status === 200 || result.status === 201) {
    const a = result.data && (result.data.assignment || result.data);
    render(a);
    return;
  }
  if (result.status === 409) {
    const reason = result.data && result.data.extra ? result.data.extra.reason : null;
    showCard("No task for you right now", errorMessage(result));
    root.querySelector(".end-card").dataset.reason = reason || "";
    return;
  }
  showCard("Could not load a task", errorMessage(result), { retry: true });
}

// ---------------------------------------------------------------- rendering
function buildSections(a) {
  // Every requested points attribute shares one canvas (red / blue switch).
  const groups = [];
  let pointsGroup = null;
  for (const attr of a.attributes) {
    if (attr.kind === "points") {
      if (!pointsGroup) { pointsGroup = { kind: "points", attributes: [] }; groups.push(pointsGroup); }
      pointsGroup.attributes.push(attr);
    } else {
      groups.push({ kind: attr.kind, attributes: [attr] });
    }
  }
  return groups;
}

function imageStage(image) {
  const img = el("img", { src: image.url, alt: "The image to judge", width: image.width, height: image.height,
    draggable: "false", class: "stage-img" });
  const wrap = el("div", { class: "stage-wrap", style: `--ratio: ${image.width / image.height}` }, img);
  return { figure: el("figure", { class: "stage" }, wrap), wrap, img, width: image.width, height: image.height };
}

function render(a) {
  setStatus("");
  timer.reset();
  const target = a.target || {};
  const images = target.images || [];
  // One id per assignment, kept across reloads, so a retry can never make a second set.
  const submissionId = store.get(store.submissionKey(a.id)) || newUuid();
  store.set(store.submissionKey(a.id), submissionId);

  task = {
    assignment: a, sections: [], current: null, dirty: false, version: 0,
    submissionId, inFlight: false, saving: false, stage: null,
  };

  const promptText = el("p", { class: "prompt-text", id: "prompt-text" });
  promptText.textContent = (target.prompt && target.prompt.text) || "";
  const promptCard = el("section", { class: "prompt-card", "aria-label": "Prompt" },
    el("span", { class: "prompt-label", text: "Prompt" }), promptText);

  const groups = buildSections(a);
  const needsStage = target.type === "item" && images.length > 0;
  if (needsStage) task.stage = imageStage(images[0]);

  const questions = el("div", { class: "questions" });
  groups.forEach((group, index) => {
    const section = makeSection(a, group, index);
    task.sections.push(section);
    questions.append(section.element);
  });

  // Group and pair images are shown by their widget (ranking, side-by-side);
  // when no widget does, show them as a gallery.
  let gallery = null;
  if (!needsStage && images.length && !groups.some((g) => g.kind === "ranking" || g.kind === "sxs")) {
    gallery = el("div", { class: "gallery" }, images.map((img, i) => el("figure", {},
      el("img", { src: img.url, alt: `Image ${i + 1}`, width: img.width, height: img.height }),
      el("figcaption", { text: String(i + 1) }))));
  }

  const answeredCount = el("span", { class: "answered-count" });
  const problemsBox = el("div", { class: "submit-problems", role: "alert", id: "submit-problems" });
  const submitButton = el("button", { type: "submit", class: "btn primary big", id: "submit-btn" },
    "Submit ", kbd("Enter"));
  const skipReason = el("select", { id: "skip-reason", "aria-label": "Why skip?" },
    ["I can't judge this", "The image does not load", "The prompt is unclear", "Other"].map((r) => el("option", { value: r, text: r })));
  const skipForm = el("div", { class: "skip-form", hidden: true },
    skipReason,
    el("button", { type: "button", class: "btn", id: "skip-confirm", onclick: () => skip(skipReason.value) }, "Skip this task"),
    el("button", { type: "button", class: "btn linklike", onclick: () => { skipForm.hidden = true; } }, "Cancel"));
  const skipButton = el("button", { type: "button", class: "btn ghost", id: "skip-btn",
    onclick: () => { skipForm.hidden = !skipForm.hidden; if (!skipForm.hidden) skipReason.focus(); } }, "Skip…");
  const footer = el("form", { class: "task-foot", onsubmit: (event) => { event.preventDefault(); submit(); } },
    el("div", { class: "foot-row" }, answeredCount, el("div", { class: "spacer" }), skipButton, submitButton),
    skipForm, problemsBox);
  Object.assign(task, { answeredCount, problemsBox, submitButton, footer });

  const layout = needsStage
    ? el("div", { class: "task-grid" }, el("div", { class: "media" }, task.stage.figure), el("div", { class: "qcol" }, questions, footer))
    : el("div", { class: "task-single" }, gallery, questions, footer);
  const article = el("article", { class: `task target-${target.type}`, dataset: { assignment: String(a.id) } },
    promptCard, layout);
  root.replaceChildren(article);

  // Restore the draft: values and the active time already spent.
  const draft = a.draft || {};
  const responses = draft.responses || {};
  for (const section of task.sections) {
    for (const key of section.widget.keys) {
      if (responses[key] !== undefined && responses[key] !== null) section.widget.restore(key, responses[key]);
    }
  }
  timer.restore(draft.active_ms || {});
  task.version = 0;
  renderLease(a.lease_expires_at);
  app.querySelector(".task-meta").hidden = false;
  const saved = app.querySelector('[data-progress="saved"]');
  saved.textContent = a.draft && a.draft.responses && Object.keys(a.draft.responses).length ? "draft restored" : "not saved yet";
  saved.classList.remove("warn");
  refresh();
  const first = task.sections.find((s) => !sectionAnswered(s)) || task.sections[0];
  if (first) setCurrent(first, { focus: true });
  paintTimers();
}

function makeSection(a, group, index) {
  const section = { group, element: null, widget: null, timers: new Map(), problems: null };
  const ctx = {
    assignment: a,
    target: a.target || {},
    attributes: group.attributes,
    pointRadiusFrac: pointRadius(a, group.attributes),
    stage: task.stage,
    changed: () => onChanged(section),
    answered: () => advanceFrom(section),
    activeKeyChanged: () => { if (task.current === section) timer.setCurrent(section.widget.activeKey()); paintTimers(); },
  };
  const factory = WIDGETS[group.kind];
  if (!factory || (group.kind === "points" && !task.stage)) {
    section.widget = unsupported(group);
  } else {
    section.widget = factory.create(ctx);
  }
  const titles = group.attributes.map((attr) => el("h2", { class: "q-question", text: attr.question }));
  const timerBox = el("div", { class: "q-timers" }, group.attributes.map((attr) => {
    const color = (section.widget.timerColors || {})[attr.key];
    const t = el("span", { class: "q-timer", title: `Active time on ${attr.key}`, dataset: { key: attr.key },
      style: color ? `--dot: ${color}` : null }, "0:00");
    section.timers.set(attr.key, t);
    return t;
  }));
  section.problems = el("p", { class: "q-problems", role: "alert" });
  const hints = el("p", { class: "q-hints" }, (section.widget.hints || []).map(([k, text]) => el("span", { class: "hint" }, kbd(k), ` ${text}`)));
  section.element = el("section", {
    class: `question kind-${group.kind}${section.widget.wide ? " wide" : ""}`, tabindex: "-1",
    dataset: { keys: section.widget.keys.join(" "), kind: group.kind },
    "aria-label": group.attributes.map((x) => x.question).join(" "),
  },
  el("header", { class: "q-head" },
    el("span", { class: "q-num", "aria-hidden": "true", text: String(index + 1) }),
    el("div", { class: "q-titles" }, titles),
    el("span", { class: "q-done", "aria-hidden": "true", text: "✓" }),
    timerBox),
  el("div", { class: "q-body" }, section.widget.body),
  el("footer", { class: "q-foot" }, hints, section.problems));
  const roots = [section.element, ...(section.widget.extraRoots || [])];
  for (const r of roots) {
    r.addEventListener("pointerdown", () => setCurrent(section));
    r.addEventListener("focusin", () => setCurrent(section));
  }
  return section;
}

function pointRadius(a, attributes) {
  // An attribute's config may set its own radius; else the campaign's, from
  // the payload or (older servers) from the page.
  for (const attr of attributes) {
    const r = attr.config && Number(attr.config.point_radius_frac);
    if (r > 0) return r;
  }
  const fromPayload = Number(a.point_radius_frac);
  return fromPayload > 0 ? fromPayload : cfg.radius;
}

function unsupported(group) {
  return {
    keys: group.attributes.map((x) => x.key),
    body: el("p", { class: "alert", text: `This page cannot show "${group.kind}" questions.` }),
    value: () => null, restore: () => {}, isAnswered: () => false,
    problems: () => ["This question cannot be answered here."], activeKey: () => group.attributes[0].key, onKey: () => false,
  };
}

function renderLease(iso) {
  const lease = app.querySelector('[data-progress="lease"]');
  const sep = app.querySelector(".lease-sep");
  const when = iso ? new Date(iso) : null;
  const ok = when && !Number.isNaN(when.getTime());
  lease.hidden = sep.hidden = !ok;
  if (ok) lease.textContent = `reserved until ${when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
}

// ------------------------------------------------------- state and focus
function keyAnswered(section, key) {
  return section.widget.isAnswered(key);
}

function sectionAnswered(section) {
  return section.widget.keys.every((key) => keyAnswered(section, key));
}

function required(section, key) {
  const attr = section.group.attributes.find((x) => x.key === key);
  return !attr || attr.required !== false;
}

function sectionProblems(section) {
  const out = [...section.widget.problems()];
  if (!out.length) {
    for (const key of section.widget.keys) {
      if (required(section, key) && !keyAnswered(section, key)) { out.push("Please answer this question."); break; }
    }
  }
  return out;
}

function onChanged(section) {
  if (!task) return;
  task.version += 1;
  task.dirty = true;
  // Problems shown earlier go away as soon as they are fixed.
  if (section.problems.textContent) section.problems.textContent = sectionProblems(section).join(" ");
  if (task.problemsBox.textContent) showProblems(false);
  refresh();
}

function refresh() {
  const n = task.sections.length;
  const done = task.sections.filter((s) => sectionAnswered(s) && !s.widget.problems().length).length;
  for (const s of task.sections) {
    // "Done" means answered and nothing to fix (a ranking may be complete but contradict the ratings).
    const problems = s.widget.problems().length > 0;
    s.element.classList.toggle("answered", sectionAnswered(s) && !problems);
    s.element.classList.toggle("has-problems", problems);
  }
  task.answeredCount.textContent = `${done} of ${n} answered`;
  task.submitButton.classList.toggle("ready", allProblems().length === 0);
}

function setCurrent(section, { focus = false } = {}) {
  if (!task) return;
  if (task.current !== section) {
    if (task.current) task.current.element.classList.remove("current");
    task.current = section;
    section.element.classList.add("current");
  }
  timer.setCurrent(section.widget.activeKey());
  if (focus) {
    section.element.focus({ preventScroll: true });
    section.element.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
  paintTimers();
}

function advanceFrom(section) {
  if (!task) return;
  const i = task.sections.indexOf(section);
  const order = [...task.sections.slice(i + 1), ...task.sections.slice(0, i)];
  const next = order.find((s) => !sectionAnswered(s));
  if (next) setCurrent(next, { focus: true });
  else focusSubmit();
}

function focusSubmit() {
  task.submitButton.focus({ preventScroll: true });
  task.submitButton.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function allProblems() {
  return task.sections.map((s) => [s, sectionProblems(s)]).filter(([, p]) => p.length);
}

function showProblems(focusFirst = true) {
  const list = allProblems();
  for (const s of task.sections) s.problems.textContent = "";
  for (const [s, p] of list) s.problems.textContent = p.join(" ");
  task.problemsBox.replaceChildren();
  task.problemsBox.classList.remove("server");
  if (list.length) {
    task.problemsBox.append(el("p", { text: `${list.length} question${list.length === 1 ? " needs" : "s need"} attention before you can submit.` }));
    if (focusFirst) setCurrent(list[0][0], { focus: true });
  }
  return list.length === 0;
}

// ---------------------------------------------------------------- keyboard
document.addEventListener("keydown", (event) => {
  if (!task || event.defaultPrevented || event.isComposing) return;
  const t = event.target;
  if (t.closest && t.closest("input[type=text], input[type=password], textarea, select, [contenteditable], dialog")) return;
  if (event.key === "Enter") {
    // Buttons, links and ranking tiles act on Enter themselves.
    if (t.closest && t.closest("button, a, [data-own-enter]")) return;
    event.preventDefault();
    onEnter();
    return;
  }
  if (event.altKey || event.metaKey) return;
  if (event.ctrlKey && event.key.toLowerCase() !== "z") return;
  if (!task.current && task.sections.length) setCurrent(task.sections[0]);
  if (task.current && task.current.widget.onKey(event)) event.preventDefault();
});

function onEnter() {
  if (allProblems().length === 0) { submit(); return; }
  const current = task.current;
  if (current && !sectionAnswered(current) && sectionProblems(current).length) {
    current.problems.textContent = sectionProblems(current).join(" ");
    return;
  }
  advanceFrom(current || task.sections[0]);
}

// ------------------------------------------------------------ timers
function paintTimers() {
  if (!task) return;
  timer.tick();
  const live = timer.isActive() ? timer.current : null;
  for (const s of task.sections) {
    for (const [key, node] of s.timers) {
      node.textContent = formatMs(timer.ms(key));
      node.classList.toggle("ticking", key === live);
    }
  }
}
setInterval(paintTimers, 500);

// ------------------------------------------------------------ drafts
function collectResponses() {
  const responses = {};
  for (const s of task.sections) {
    for (const key of s.widget.keys) {
      const v = s.widget.value(key);
      if (v !== null && v !== undefined) responses[key] = v;
    }
  }
  return responses;
}

function allKeys() {
  return task.sections.flatMap((s) => s.widget.keys);
}

async function saveDraft({ keepalive = false } = {}) {
  if (!task || task.inFlight || task.saving) return;
  const current = task;
  const version = current.version;
  const body = { responses: collectResponses(), active_ms: timer.snapshot(allKeys()) };
  current.saving = true;
  const saved = app.querySelector('[data-progress="saved"]');
  try {
    const result = await apiCall("PUT", `${cfg.assignmentsUrl}${current.assignment.id}/draft`, body, { keepalive });
    if (task !== current) return; // submitted or skipped meanwhile: nothing to report
    if (result.status >= 200 && result.status < 300) {
      if (current.version === version) current.dirty = false;
      saved.textContent = `draft saved ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}`;
      saved.classList.remove("warn");
    } else {
      saved.textContent = `draft not saved: ${errorMessage(result)}`;
      saved.classList.add("warn");
    }
  } catch (err) {
    if (task !== current) return;
    saved.textContent = "draft not saved (offline?)";
    saved.classList.add("warn");
  } finally {
    current.saving = false;
  }
}

setInterval(() => { if (task && task.dirty) saveDraft(); }, AUTOSAVE_MS);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" && task) saveDraft({ keepalive: true });
});
window.addEventListener("pagehide", () => { if (task && task.dirty) saveDraft({ keepalive: true }); });

// ------------------------------------------------------------ submit / skip
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function submit() {
  if (!task || task.inFlight) return;
  if (!showProblems(true)) return;
  const current = task;
  const responses = collectResponses();
  const allMs = timer.snapshot(allKeys());
  const activeMs = Object.fromEntries(Object.keys(responses).map((k) => [k, allMs[k] || 0]));
  const body = { submission_id: current.submissionId, responses, active_ms: activeMs };
  const url = `${cfg.assignmentsUrl}${current.assignment.id}/submit`;
  current.inFlight = true;
  current.submitButton.disabled = true;
  current.submitButton.classList.add("busy");
  current.footer.setAttribute("aria-busy", "true");
  let result = null;
  // A lost answer is retried with the same submission id: the server accepts
  // an id once and answers a repeat with the first result, so nothing doubles.
  for (let attempt = 0; ; attempt++) {
    try {
      result = await apiCall("POST", url, body);
      if (result.status < 500) break;
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      result = null;
    }
    if (attempt >= RETRY_DELAYS_MS.length) break;
    setStatus(`Connection problem: retrying the same submission (${attempt + 1})…`, "warn");
    await sleep(RETRY_DELAYS_MS[attempt]);
  }
  setStatus("");
  if (task !== current) return;
  current.inFlight = false;
  current.submitButton.disabled = false;
  current.submitButton.classList.remove("busy");
  current.footer.removeAttribute("aria-busy");
  if (result && (result.status === 200 || result.status === 201)) {
    store.remove(store.submissionKey(current.assignment.id));
    // 200 repeats an accepted submission of this same id (ours, maybe sent before a reload).
    progress.submitted += 1;
    progress.session += 1;
    paintProgress();
    await loadNext();
    return;
  }
  showServerError(result);
}

function showServerError(result) {
  const message = result ? errorMessage(result) : "The server could not be reached. Your answers are kept: try again.";
  task.problemsBox.replaceChildren(el("p", { class: "server-message", text: message }));
  task.problemsBox.classList.add("server");
  // Point at the question the server named, when it named one.
  const field = result && result.data && result.data.extra ? String(result.data.extra.field || "") : "";
  const section = task.sections.find((s) => s.widget.keys.some((k) => field === k || field.split(".").includes(k)));
  if (section) {
    section.problems.textContent = message;
    setCurrent(section, { focus: true });
  }
  if (result && result.status === 409) {
    task.problemsBox.append(el("button", { type: "button", class: "btn", onclick: () => loadNext() }, "Get another task"));
  }
}

async function skip(reason) {
  if (!task || task.inFlight) return;
  const current = task;
  current.inFlight = true;
  let result;
  try {
    result = await apiCall("POST", `${cfg.assignmentsUrl}${current.assignment.id}/skip`, { reason });
  } catch (err) {
    result = null;
  }
  current.inFlight = false;
  if (result && result.status >= 200 && result.status < 300) {
    store.remove(store.submissionKey(current.assignment.id));
    await loadNext();
    return;
  }
  showServerError(result);
}

function paintProgress() {
  app.querySelector('[data-progress="submitted"]').textContent = String(progress.submitted);
  app.querySelector('[data-progress="session"]').textContent = String(progress.session);
}

start();
