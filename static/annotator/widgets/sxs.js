// Side-by-side: images A and B (A = images[0], B = images[1] as displayed;
// the server randomised the sides and maps the answer back), a five-way
// preference with "unsure" (Collins et al.) or the three-way A / B / unsure.
import { el } from "../dom.js";

const FIVE = [
  { choice: "A>>B", label: "A ≫ B", hint: "A much better", key: "1" },
  { choice: "A>B", label: "A > B", hint: "A better", key: "2" },
  { choice: "A=B", label: "A = B", hint: "about the same", key: "3" },
  { choice: "B>A", label: "B > A", hint: "B better", key: "4" },
  { choice: "B>>A", label: "B ≫ A", hint: "B much better", key: "5" },
  { choice: "unsure", label: "Unsure", hint: "can't tell", key: "u" },
];
const THREE = [
  { choice: "A", label: "A", hint: "A is better", key: "a", alt: "1" },
  { choice: "B", label: "B", hint: "B is better", key: "b", alt: "2" },
  { choice: "unsure", label: "Unsure", hint: "can't tell", key: "u", alt: "3" },
];

export function create(ctx) {
  const attr = ctx.attributes[0];
  const threeWay = (attr.config || {}).mode === "3way";
  const choices = threeWay ? THREE : FIVE;
  const images = (ctx.target.images || []).slice(0, 2);
  let chosen = null;

  const side = (img, name) => el("figure", { class: "sxs-side", dataset: { side: name } },
    el("figcaption", { class: "sxs-label", text: name }),
    el("div", { class: "sxs-frame" },
      el("img", { src: img.url, alt: `Image ${name}`, width: img.width, height: img.height })));
  const pair = el("div", { class: "sxs-images" }, images[0] ? side(images[0], "A") : null, images[1] ? side(images[1], "B") : null);
  const buttons = choices.map((c) => el("button", {
    type: "button", class: `sxs-option${c.choice === "unsure" ? " unsure" : ""}`, role: "radio", "aria-checked": "false",
    "aria-label": `${c.label}: ${c.hint}`, dataset: { choice: c.choice }, onclick: () => set(c.choice, true),
  }, el("span", { class: "sxs-opt-label", text: c.label }), el("span", { class: "sxs-opt-hint", text: c.hint }),
  el("kbd", { text: c.key })));
  const row = el("div", { class: `sxs-choices${threeWay ? " three" : ""}`, role: "radiogroup", "aria-label": attr.question }, buttons);

  function paint() {
    buttons.forEach((b, i) => {
      const on = choices[i].choice === chosen;
      b.classList.toggle("selected", on);
      b.setAttribute("aria-checked", on ? "true" : "false");
    });
    for (const fig of pair.querySelectorAll(".sxs-side")) {
      const s = fig.dataset.side;
      const wins = chosen && chosen !== "unsure" && (chosen === s || chosen.startsWith(`${s}>`));
      fig.classList.toggle("preferred", Boolean(wins));
    }
  }

  function set(choice, advance) {
    chosen = choice;
    paint();
    ctx.changed();
    if (advance) ctx.answered();
  }

  return {
    keys: [attr.key],
    body: el("div", { class: "sxs" }, pair, row),
    wide: true,
    hints: [[choices.map((c) => c.key).join(" "), "choose"]],
    value: () => (chosen === null ? null : { choice: chosen }),
    restore: (_key, v) => { if (v && choices.some((c) => c.choice === v.choice)) { chosen = v.choice; paint(); } },
    isAnswered: () => chosen !== null,
    problems: () => [],
    activeKey: () => attr.key,
    onKey: (event) => {
      const k = event.key.toLowerCase();
      const c = choices.find((x) => x.key === k || x.alt === k);
      if (c) { set(c.choice, true); return true; }
      return false;
    },
  };
}
