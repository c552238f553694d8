// Multi-select issue flags with an exclusive "none of these".
import { el, humanize, digitOf } from "../dom.js";

export const NONE = "none";
let uid = 0;

export function create(ctx) {
  const attr = ctx.attributes[0];
  const options = (attr.options || []).filter((o) => o !== NONE);
  const name = `choice-${attr.key}-${++uid}`;
  const selected = new Set();
  const list = el("div", { class: "choice-options", role: "group", "aria-label": attr.question });
  const inputs = new Map();

  function add(opt, label, keyHint) {
    const id = `${name}-${inputs.size}`;
    const input = el("input", { type: "checkbox", value: opt, id });
    input.addEventListener("change", () => toggle(opt, input.checked));
    list.append(el("label", { class: `option${opt === NONE ? " option-none" : ""}`, for: id }, input,
      el("span", { text: label }), keyHint ? el("kbd", { text: keyHint }) : null));
    inputs.set(opt, input);
  }
  options.forEach((opt, i) => add(opt, humanize(opt), i < 9 ? String(i + 1) : null));
  add(NONE, "None of these", "0");

  function paint() {
    for (const [opt, input] of inputs) {
      input.checked = selected.has(opt);
      input.closest("label").classList.toggle("selected", input.checked);
    }
  }

  // "none" excludes every other option and the other way round.
  function toggle(opt, on) {
    if (on) {
      if (opt === NONE) selected.clear(); else selected.delete(NONE);
      selected.add(opt);
    } else {
      selected.delete(opt);
    }
    paint();
    ctx.changed();
  }

  return {
    keys: [attr.key],
    body: list,
    hints: [[`1–${Math.min(9, options.length)}`, "toggle"], ["0", "none of these"], ["Enter", "next"]],
    value: () => (selected.size ? { value: [...inputs.keys()].filter((o) => selected.has(o)) } : null),
    restore: (_key, v) => {
      if (!v || !Array.isArray(v.value)) return;
      selected.clear();
      for (const opt of v.value) if (inputs.has(opt)) selected.add(opt);
      if (selected.has(NONE) && selected.size > 1) selected.delete(NONE);
      paint();
    },
    isAnswered: () => selected.size > 0,
    problems: () => [],
    activeKey: () => attr.key,
    onKey: (event) => {
      const d = digitOf(event);
      if (d === 0) { toggle(NONE, !selected.has(NONE)); return true; }
      if (d !== null && d >= 1 && d <= Math.min(9, options.length)) {
        const opt = options[d - 1];
        toggle(opt, !selected.has(opt));
        return true;
      }
      return false;
    },
  };
}
