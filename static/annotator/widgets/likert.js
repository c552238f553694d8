// Likert scale: one button per point with its anchor text; number keys answer.
import { el, digitOf } from "../dom.js";

function anchorText(anchor, k) {
  // Presets write 7-point anchors as "3: somewhat bad"; the number is shown apart.
  return String(anchor ?? "").replace(new RegExp(`^\\s*${k}\\s*[:.)-]\\s*`), "");
}

export function create(ctx) {
  const attr = ctx.attributes[0];
  const points = Number(attr.points) || (attr.anchors && attr.anchors.length) || 5;
  let value = null;
  const buttons = [];
  const scale = el("div", { class: `likert-scale points-${points}`, role: "radiogroup", "aria-label": attr.question });
  for (let k = 1; k <= points; k++) {
    const anchor = anchorText((attr.anchors || [])[k - 1], k);
    const button = el("button", {
      type: "button", class: "likert-option", role: "radio", "aria-checked": "false",
      "aria-label": anchor ? `${k}: ${anchor}` : String(k), dataset: { value: String(k) },
      onclick: () => set(k, true),
    }, el("span", { class: "likert-num", text: String(k) }), anchor ? el("span", { class: "likert-anchor", text: anchor }) : null);
    buttons.push(button);
    scale.append(button);
  }

  function paint() {
    buttons.forEach((b, i) => {
      const on = value === i + 1;
      b.classList.toggle("selected", on);
      b.setAttribute("aria-checked", on ? "true" : "false");
    });
  }

  function set(k, advance) {
    value = k;
    paint();
    ctx.changed();
    if (advance) ctx.answered();
  }

  return {
    keys: [attr.key],
    body: scale,
    hints: [[`1–${points}`, "rate"]],
    value: () => (value === null ? null : { value }),
    restore: (_key, v) => {
      const k = Number(v && v.value);
      if (Number.isInteger(k) && k >= 1 && k <= points) { value = k; paint(); }
    },
    isAnswered: () => value !== null,
    problems: () => [],
    activeKey: () => attr.key,
    onKey: (event) => {
      const d = digitOf(event);
      if (d !== null && d >= 1 && d <= points) { set(d, true); return true; }
      return false;
    },
  };
}
