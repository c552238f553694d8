// Dashboard heatmap viewer: pick an item, see its consolidated heatmaps over the
// image and every annotator's points on top, with toggles per label and per
// annotator. Data: GET <endpoint><target id>.json (annotator/views/dashboard.py).

const SVG = "http://www.w3.org/2000/svg";
const LABEL_COLOURS = { artifact: "#dc2828", misalignment: "#2859e0" };
const ANNOTATOR_DASH = ["", "4 2", "1 2", "6 2 1 2", "8 3"];

const viewer = document.querySelector(".qc-viewer");
if (viewer) {
  const endpoint = viewer.dataset.endpoint;
  const select = document.getElementById("hm-target");
  const idInput = document.getElementById("hm-id");
  const stage = document.getElementById("hm-stage");
  const toggles = document.getElementById("hm-toggles");
  const promptEl = document.getElementById("hm-prompt");
  const hidden = { label: new Set(), annotator: new Set(), heat: false };

  const colour = (label) => LABEL_COLOURS[label] || "#e08a1a";

  function message(text) {
    stage.replaceChildren();
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    stage.append(p);
  }

  function applyVisibility() {
    for (const layer of stage.querySelectorAll("[data-layer]")) {
      const off = hidden.label.has(layer.dataset.label)
        || (layer.dataset.layer === "heat" && hidden.heat)
        || (layer.dataset.layer === "point" && hidden.annotator.has(layer.dataset.annotator));
      layer.style.display = off ? "none" : "";
    }
  }

  function toggle(text, checked, onChange, swatch) {
    const label = document.createElement("label");
    label.className = "qc-toggle";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = checked;
    box.addEventListener("change", () => { onChange(box.checked); applyVisibility(); });
    label.append(box);
    if (swatch) {
      const s = document.createElement("span");
      s.className = "qc-swatch";
      s.style.background = swatch.colour || "transparent";
      if (swatch.dash !== undefined) s.style.border = `2px ${swatch.dash ? "dashed" : "solid"} #333`;
      label.append(s);
    }
    label.append(document.createTextNode(" " + text));
    return label;
  }

  function render(data) {
    promptEl.textContent = data.prompt;  // prompt text is data, never markup
    const { width, height } = data.image;
    const wrap = document.createElement("div");
    wrap.className = "qc-imgwrap";
    const img = document.createElement("img");
    img.src = data.image.url;
    img.width = width;
    img.height = height;
    img.alt = `Item ${data.external_id}`;
    wrap.append(img);
    for (const heat of data.heatmaps) {
      const layer = document.createElement("img");
      layer.src = heat.url;
      layer.alt = "";
      layer.className = "qc-heat";
      layer.dataset.layer = "heat";
      layer.dataset.label = heat.label;
      layer.title = `${heat.attribute} · ${heat.label} (${heat.n_responses} annotators)`;
      wrap.append(layer);
    }
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "qc-overlay");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const r = data.radius_frac * height;
    data.annotators.forEach((annotator, index) => {
      for (const point of annotator.points) {
        // A white halo under the coloured ring keeps a point visible on any colour.
        const mark = document.createElementNS(SVG, "g");
        mark.dataset.layer = "point";
        mark.dataset.label = point.label;
        mark.dataset.annotator = annotator.pseudonym;
        const circle = (cls, radius) => {
          const c = document.createElementNS(SVG, "circle");
          c.setAttribute("cx", point.x * width);
          c.setAttribute("cy", point.y * height);
          c.setAttribute("r", radius);
          c.setAttribute("class", cls);
          mark.append(c);
          return c;
        };
        circle("qc-halo", r);
        const ring = circle("qc-point", r);
        ring.setAttribute("stroke", colour(point.label));
        ring.setAttribute("stroke-dasharray", ANNOTATOR_DASH[index % ANNOTATOR_DASH.length]);
        circle("qc-dot", Math.max(2, height / 100)).setAttribute("fill", colour(point.label));
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${annotator.pseudonym} · ${point.label}`;
        mark.append(title);
        svg.append(mark);
      }
    });
    wrap.append(svg);

    toggles.replaceChildren();
    toggles.append(toggle("heatmaps", !hidden.heat, (on) => { hidden.heat = !on; }));
    for (const label of data.labels) {
      toggles.append(toggle(label, !hidden.label.has(label),
        (on) => { on ? hidden.label.delete(label) : hidden.label.add(label); }, { colour: colour(label) }));
    }
    data.annotators.forEach((annotator, index) => {
      const n = annotator.points.length;
      const none = Object.values(annotator.none).some(Boolean) && n === 0;
      toggles.append(toggle(`${annotator.pseudonym} (${none ? "nothing" : n + " pt" + (n === 1 ? "" : "s")})`,
        !hidden.annotator.has(annotator.pseudonym),
        (on) => { on ? hidden.annotator.delete(annotator.pseudonym) : hidden.annotator.add(annotator.pseudonym); },
        { dash: ANNOTATOR_DASH[index % ANNOTATOR_DASH.length] }));
    });
    stage.replaceChildren(wrap);
    applyVisibility();
  }

  async function load(targetId) {
    if (!targetId) return;
    message("Loading…");
    try {
      const response = await fetch(`${endpoint}${encodeURIComponent(targetId)}.json`, { credentials: "same-origin" });
      if (!response.ok) {
        message(response.status === 404 ? "No such item in this campaign." : `Could not load (HTTP ${response.status}).`);
        return;
      }
      render(await response.json());
    } catch (error) {
      message(`Could not load: ${error}`);
    }
  }

  select.addEventListener("change", () => { idInput.value = select.value; load(select.value); });
  idInput.addEventListener("change", () => load(idInput.value.trim()));
  if (select.options.length > 1 && new URLSearchParams(location.search).has("item")) {
    load(new URLSearchParams(location.search).get("item"));
  }
}
