// Binary judgement: yes / no / unsure (or good / bad / skip), keys y, n, s.
import { el, humanize } from "../dom.js";

const KEYS = { y: "yes", g: "yes", n: "no", b: "no", s: "skip", u: "skip" };

export function create(ctx) {
  const attr = ctx.attributes[0];
  const labels = (attr.options && attr.options.length >= 2) ? attr.options : ["yes", "no", "unsure"];
  const choices = [
    { id: "yes", label: labels[0], key: "y", value: { value: true } },
    { id: "no", label: labels[1], key: "n", value: { value: false } },
  ];
  if (labels.length >= 3) choices.push({ id: "skip", label: labels[2], key: "s", value: { skipped: true } });
  let chosen = null;
  const group = el("div", { class: "binary-choices", role: "radiogroup", "aria-label": attr.question });
  const buttons = choices.map((c) => {
    const b = el("button", {
      type: "button", class: `binary-option opt-${c.id}`, role: "radio", "aria-checked": "false",
      dataset: { choice: c.id }, onclick: () => set(c.id, true),
    }, el("span", { class: "opt-label", text: humanize(c.label) }), el("kbd", { text: c.key }));
    group.append(b);
    return b;
  });

  function paint() {
    buttons.forEach((b, i) => {
      const on = choices[i].id === chosen;
      b.classList.toggle("selected", on);
      b.setAttribute("aria-checked", on ? "true" : "false");
    });
  }

  function set(id, advance) {
    chosen = id;
    paint();
    ctx.changed();
    if (advance) ctx.answered();
  }

  return {
    keys: [attr.key],
    body: group,
    hints: [], // the keys are printed on the buttons
    value: () => (chosen === null ? null : { ...choices.find((c) => c.id === chosen).value }),
    restore: (_key, v) => {
      if (!v) return;
      if (v.skipped === true && choices.some((c) => c.id === "skip")) chosen = "skip";
      else if (v.value === true) chosen = "yes";
      else if (v.value === false) chosen = "no";
      paint();
    },
    isAnswered: () => chosen !== null,
    problems: () => [],
    activeKey: () => attr.key,
    onKey: (event) => {
      const id = KEYS[event.key.toLowerCase()];
      if (id && choices.some((c) => c.id === id)) { set(id, true); return true; }
      return false;
    },
  };
}
