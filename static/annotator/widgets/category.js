// Single choice among options (e.g. the prompt's category); number keys pick.
import { el, humanize, digitOf } from "../dom.js";

let uid = 0;

export function create(ctx) {
  const attr = ctx.attributes[0];
  const options = attr.options || [];
  const name = `cat-${attr.key}-${++uid}`;
  let chosen = null;
  const group = el("div", { class: "category-options", role: "radiogroup", "aria-label": attr.question });
  // A pointer pick moves on to the next question; arrow keys only browse.
  let byPointer = false;
  group.addEventListener("pointerdown", () => { byPointer = true; });
  group.addEventListener("keydown", () => { byPointer = false; });
  const inputs = options.map((opt, i) => {
    const input = el("input", { type: "radio", name, value: opt, id: `${name}-${i}` });
    input.addEventListener("change", () => { if (input.checked) set(opt, byPointer); });
    group.append(el("label", { class: "option", for: `${name}-${i}` }, input,
      el("span", { text: humanize(opt) }), i < 9 ? el("kbd", { text: String(i + 1) }) : null));
    return input;
  });

  function paint() {
    inputs.forEach((input) => {
      input.checked = input.value === chosen;
      input.closest("label").classList.toggle("selected", input.checked);
    });
  }

  function set(opt, advance) {
    chosen = opt;
    paint();
    ctx.changed();
    if (advance) ctx.answered();
  }

  return {
    keys: [attr.key],
    body: group,
    hints: [[`1–${Math.min(9, options.length)}`, "choose"]],
    value: () => (chosen === null ? null : { value: chosen }),
    restore: (_key, v) => { if (v && options.includes(v.value)) { chosen = v.value; paint(); } },
    isAnswered: () => chosen !== null,
    problems: () => [],
    activeKey: () => attr.key,
    onKey: (event) => {
      const d = digitOf(event);
      if (d !== null && d >= 1 && d <= Math.min(9, options.length)) { set(options[d - 1], true); return true; }
      return false;
    },
  };
}
