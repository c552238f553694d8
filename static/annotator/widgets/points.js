// Points on the item image: red for artifacts / implausibility, blue for
// misalignment (RichHF). One canvas serves every requested points attribute;
// a label switch (buttons, keys r / b) picks which one a click adds to.
//
// Points are stored normalised to [0, 1] of the image, measured against the
// displayed <img>'s bounding box, so the display size never matters. Each
// point is drawn with its disk of radius point_radius_frac x image height,
// the region consolidation will count.
import { el, svg, humanize } from "../dom.js";

export const MAX_POINTS = 50;
const MARKER_PX = 7;
const LABEL_STYLE = {
  artifact: { color: "#e5484d", name: "Artifact", hotkey: "r" },
  misalignment: { color: "#3e63dd", name: "Misalignment", hotkey: "b" },
};
const FALLBACK_COLORS = ["#e5484d", "#3e63dd", "#12a594", "#f76b15"];

function labelOf(attr) {
  if (attr.options && attr.options.length) return attr.options[0];
  return /misalign/.test(attr.key) ? "misalignment" : "artifact";
}

const round6 = (v) => Math.round(v * 1e6) / 1e6;

export function create(ctx) {
  const stage = ctx.stage; // {wrap, img, width, height}
  const W = stage.width;
  const H = stage.height;
  const layers = ctx.attributes.map((attr, i) => {
    const label = labelOf(attr);
    const style = LABEL_STYLE[label] || { color: FALLBACK_COLORS[i % 4], name: humanize(label), hotkey: null };
    return { attr, key: attr.key, label, ...style, points: [], none: false, group: null, noneInput: null };
  });
  let active = 0;
  const undoStack = [];

  // --- overlay -----------------------------------------------------------
  const overlay = svg("svg", {
    class: "points-overlay", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none",
    role: "img", "aria-label": "Points marked on the image",
  });
  for (const layer of layers) {
    layer.group = svg("g", { class: `layer layer-${layer.label}` });
    overlay.append(layer.group);
  }
  stage.wrap.append(overlay);
  stage.wrap.classList.add("pointable");

  const radius = () => ctx.pointRadiusFrac * H;
  // Markers keep a constant on-screen size whatever the image's scale.
  const markerR = () => {
    const w = stage.img.getBoundingClientRect().width || W;
    return MARKER_PX * (W / w);
  };

  function draw() {
    const r = radius();
    const m = markerR();
    for (const layer of layers) {
      layer.group.replaceChildren();
      layer.points.forEach((p, index) => {
        const g = svg("g", { class: "pt", "data-label": layer.label, "data-index": index });
        g.append(
          svg("circle", { class: "disk", cx: p.x * W, cy: p.y * H, r, fill: layer.color, stroke: layer.color }),
          svg("circle", { class: "marker", cx: p.x * W, cy: p.y * H, r: m, fill: layer.color }),
        );
        layer.group.append(g);
      });
    }
  }
  new ResizeObserver(draw).observe(stage.img);

  overlay.addEventListener("click", (event) => {
    const marker = event.target.closest && event.target.closest(".marker");
    if (marker) {
      const g = marker.parentNode;
      const layer = layers.find((l) => l.label === g.dataset.label);
      remove(layer, Number(g.dataset.index));
      return;
    }
    const rect = stage.img.getBoundingClientRect();
    const x = (event.clientX - rect.left) / rect.width;
    const y = (event.clientY - rect.top) / rect.height;
    if (x < 0 || x > 1 || y < 0 || y > 1) return;
    add(layers[active], { x: round6(x), y: round6(y), label: layers[active].label });
  });

  // --- controls ------------------------------------------------------------
  const message = el("p", { class: "points-message", role: "alert" });
  const switchButtons = layers.map((layer, i) => el("button", {
    type: "button", class: `label-btn label-${layer.label}`, role: "radio", "aria-checked": "false",
    style: `--label-color: ${layer.color}`, dataset: { label: layer.label },
    onclick: () => setActive(i),
  }, el("span", { class: "swatch", "aria-hidden": "true" }), el("span", { text: layer.name }),
  layer.hotkey ? el("kbd", { text: layer.hotkey }) : null));
  const labelSwitch = el("div", { class: "label-switch", role: "radiogroup", "aria-label": "Point label" }, switchButtons);
  const undoButton = el("button", { type: "button", class: "btn small", onclick: () => undo() },
    "Undo ", el("kbd", { text: "u" }));
  const counts = el("span", { class: "points-count", "aria-live": "polite" });
  const noneBoxes = layers.map((layer, i) => {
    const id = `none-${layer.key}`;
    layer.noneInput = el("input", { type: "checkbox", id, dataset: { label: layer.label } });
    layer.noneInput.addEventListener("change", () => setNone(i, layer.noneInput.checked));
    return el("label", { class: "option none-box", for: id, style: `--label-color: ${layer.color}` }, layer.noneInput,
      el("span", { text: layers.length > 1 ? `Nothing to mark: ${layer.name.toLowerCase()}` : "Nothing to mark" }),
      el("kbd", { text: "n" }));
  });
  const body = el("div", { class: "points-tools" },
    el("div", { class: "tool-row" }, labelSwitch, undoButton, counts),
    el("div", { class: "tool-row" }, noneBoxes),
    el("p", { class: "muted small" }, "Click the image to add a point; click a point to remove it."),
    message);

  function paint() {
    switchButtons.forEach((b, i) => {
      b.classList.toggle("selected", i === active);
      b.setAttribute("aria-checked", i === active ? "true" : "false");
    });
    stage.wrap.style.setProperty("--active-color", layers[active].color);
    stage.wrap.dataset.activeLabel = layers[active].label;
    for (const layer of layers) layer.noneInput.checked = layer.none;
    counts.textContent = layers.map((l) => `${l.points.length} ${l.name.toLowerCase()}`).join(" · ");
    undoButton.disabled = undoStack.length === 0;
    draw();
  }

  function changed() {
    message.textContent = "";
    paint();
    ctx.changed();
  }

  function setActive(i) {
    active = i;
    paint();
    ctx.activeKeyChanged();
  }

  function add(layer, point) {
    if (layer.points.length >= MAX_POINTS) {
      message.textContent = `At most ${MAX_POINTS} points per label.`;
      return;
    }
    undoStack.push({ layer, points: [...layer.points], none: layer.none });
    layer.points.push(point);
    layer.none = false;
    changed();
  }

  function remove(layer, index) {
    undoStack.push({ layer, points: [...layer.points], none: layer.none });
    layer.points.splice(index, 1);
    changed();
  }

  // "Nothing to mark" and points exclude each other: ticking it clears the
  // label's points (one undo brings them back).
  function setNone(i, on) {
    const layer = layers[i];
    undoStack.push({ layer, points: [...layer.points], none: layer.none });
    layer.none = on;
    if (on) layer.points = [];
    changed();
  }

  function undo() {
    const step = undoStack.pop();
    if (!step) return;
    step.layer.points = step.points;
    step.layer.none = step.none;
    changed();
  }

  paint();

  return {
    keys: layers.map((l) => l.key),
    body,
    hints: [
      ...(layers.length > 1 ? [["r / b", "red / blue label"]] : []),
      ["u", "undo"], ["n", "nothing to mark"],
    ],
    extraRoots: [stage.wrap],
    timerColors: Object.fromEntries(layers.map((l) => [l.key, l.color])),
    value: (key) => {
      const layer = layers.find((l) => l.key === key);
      if (!layer.points.length && !layer.none) return null;
      return { points: layer.points.map((p) => ({ ...p })), none: layer.none };
    },
    restore: (key, v) => {
      const layer = layers.find((l) => l.key === key);
      if (!layer || !v) return;
      layer.points = (Array.isArray(v.points) ? v.points : [])
        .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
        .slice(0, MAX_POINTS)
        .map((p) => ({ x: p.x, y: p.y, label: layer.label }));
      layer.none = v.none === true && layer.points.length === 0;
      paint();
    },
    isAnswered: (key) => {
      const list = key ? layers.filter((l) => l.key === key) : layers;
      return list.every((l) => l.points.length > 0 || l.none);
    },
    problems: () => [],
    activeKey: () => layers[active].key,
    onKey: (event) => {
      const k = event.key.toLowerCase();
      if ((event.ctrlKey || event.metaKey) && k === "z") { undo(); return true; }
      if (event.ctrlKey || event.metaKey || event.altKey) return false;
      const byKey = layers.findIndex((l) => l.hotkey === k);
      if (byKey >= 0) { setActive(byKey); return true; }
      if (k === "u") { undo(); return true; }
      if (k === "n") { setNone(active, !layers[active].none); return true; }
      return false;
    },
  };
}
