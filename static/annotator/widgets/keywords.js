// Misaligned keywords: the prompt with its server-side tokens as toggle
// buttons, the text between tokens left untouched.
import { el } from "../dom.js";

export function create(ctx) {
  const attr = ctx.attributes[0];
  const prompt = ctx.target.prompt || { text: "", tokens: [] };
  const text = prompt.text || "";
  const tokens = prompt.tokens || [];
  const flagged = new Set();
  const buttons = [];
  const line = el("p", { class: "keyword-prompt", role: "group", "aria-label": "Prompt words" });
  let pos = 0;
  tokens.forEach((token, index) => {
    if (token.start > pos) line.append(document.createTextNode(text.slice(pos, token.start)));
    const button = el("button", {
      type: "button", class: "token", "aria-pressed": "false", dataset: { index: String(index) },
      text: text.slice(token.start, token.end) || token.text,
      onclick: () => toggle(index),
    });
    buttons.push(button);
    line.append(button);
    pos = Math.max(pos, token.end);
  });
  if (pos < text.length) line.append(document.createTextNode(text.slice(pos)));
  const count = el("p", { class: "keyword-count muted", "aria-live": "polite" });
  const body = el("div", { class: "keywords" }, line, count);

  function paint() {
    buttons.forEach((b, i) => {
      const on = flagged.has(i);
      b.classList.toggle("flagged", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    count.textContent = flagged.size
      ? `${flagged.size} word${flagged.size === 1 ? "" : "s"} flagged`
      : "No word flagged: leave it so if the image matches every word.";
  }

  function toggle(index) {
    if (flagged.has(index)) flagged.delete(index); else flagged.add(index);
    paint();
    ctx.changed();
  }

  // Arrow keys walk the words so the section works without a mouse.
  line.addEventListener("keydown", (event) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (step && buttons[i + step]) { buttons[i + step].focus(); event.preventDefault(); event.stopPropagation(); }
  });
  paint();

  return {
    keys: [attr.key],
    body,
    hints: [["Tab ← →", "walk words"], ["Space", "flag"]],
    value: () => ({ tokens: [...flagged].sort((a, b) => a - b) }),
    restore: (_key, v) => {
      if (!v || !Array.isArray(v.tokens)) return;
      flagged.clear();
      for (const i of v.tokens) if (Number.isInteger(i) && i >= 0 && i < tokens.length) flagged.add(i);
      paint();
    },
    // An empty selection is an answer: the image got every word right.
    isAnswered: () => true,
    problems: () => [],
    activeKey: () => attr.key,
    focusFirst: () => buttons[0] && buttons[0].focus(),
    onKey: () => false,
  };
}
