// Active time per attribute, measured in the browser.
//
// Time counts only while the page is visible and the annotator has used the
// pointer or keyboard within the last `idleMs` (CVAT drops long gaps the same
// way), and it goes to the attribute whose section was last interacted with.
// The clock and the document are injectable so the rules can be tested with a
// fake clock instead of waiting.

export const IDLE_MS = 30000;

export class ActiveTimer {
  constructor({ idleMs = IDLE_MS, now = () => performance.now(), visible = true } = {}) {
    this.idleMs = idleMs;
    this.now = now;
    this.visible = visible;
    this.totals = {};
    this.current = null;
    this.lastInput = -Infinity;
    this.lastTick = now();
  }

  // Credit the time since the last tick to the current attribute, but only the
  // part that lies within idleMs of the last input and while visible.
  tick() {
    const t = this.now();
    if (this.current !== null && this.visible) {
      const activeUntil = Math.min(t, this.lastInput + this.idleMs);
      const gained = activeUntil - this.lastTick;
      if (gained > 0) this.totals[this.current] = (this.totals[this.current] || 0) + gained;
    }
    this.lastTick = t;
  }

  input() {
    this.tick();
    this.lastInput = this.now();
  }

  setCurrent(key) {
    if (key === this.current) return;
    this.tick();
    this.current = key;
  }

  setVisible(visible) {
    this.tick();
    this.visible = visible;
  }

  // A new task starts from zero, keeping the listeners and the last input.
  reset() {
    this.tick();
    this.totals = {};
    this.current = null;
  }

  restore(totals) {
    for (const [key, ms] of Object.entries(totals || {})) {
      const n = Number(ms);
      if (Number.isFinite(n) && n >= 0) this.totals[key] = n;
    }
  }

  ms(key) {
    return Math.round(this.totals[key] || 0);
  }

  isActive() {
    return this.visible && this.now() - this.lastInput <= this.idleMs;
  }

  // Whole milliseconds per key, for the draft and the submission.
  snapshot(keys) {
    this.tick();
    const out = {};
    for (const key of keys) out[key] = this.ms(key);
    return out;
  }
}

// Wire a timer to the real page: input events and the Page Visibility API.
export function attachToDocument(timer, doc = document) {
  let lastMove = 0;
  const onInput = () => timer.input();
  const onMove = () => {
    // pointermove fires constantly; a few times a second is plenty.
    const t = timer.now();
    if (t - lastMove > 250) { lastMove = t; timer.input(); }
  };
  const onVisibility = () => timer.setVisible(doc.visibilityState === "visible");
  const events = [["pointerdown", onInput], ["keydown", onInput], ["wheel", onInput], ["touchstart", onInput],
    ["pointermove", onMove], ["visibilitychange", onVisibility]];
  for (const [name, fn] of events) doc.addEventListener(name, fn, { capture: true, passive: true });
  timer.setVisible(doc.visibilityState === "visible");
  return () => { for (const [name, fn] of events) doc.removeEventListener(name, fn, { capture: true }); };
}

export function formatMs(ms) {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}
