// Ranking of a group's images into five levels, best to worst (ImageReward
// stage 2). Ties are allowed but a level holds at most two images; a full
// level refuses a drop visibly. Keyboard path: select an image (click, or
// Tab then Enter), press 1-5 to put it in a level, 0 to take it back.
// The ranking must agree with the annotator's own ratings of the images
// (ImageReward B.3): contradictions are listed and block the submission.
import { el, digitOf } from "../dom.js";

const LEVEL_NAMES = ["best", "", "", "", "worst"];

// Pairs the annotator rated differently but ranked the other way round.
export function ratingConflicts(levelOf, ratings, images) {
  const out = [];
  for (const a of images) {
    for (const b of images) {
      const ra = ratings[String(a.id)];
      const rb = ratings[String(b.id)];
      const la = levelOf.get(a.id);
      const lb = levelOf.get(b.id);
      if (ra == null || rb == null || la == null || lb == null) continue;
      if (ra > rb && la > lb) out.push({ better: a, worse: b, ra, rb });
    }
  }
  return out;
}

export function create(ctx) {
  const attr = ctx.attributes[0];
  const images = ctx.target.images || [];
  const config = attr.config || {};
  const nLevels = Number(config.levels) || 5;
  const maxPerLevel = Number(config.max_per_level) || 2;
  const ratings = ctx.assignment.ratings || {};
  const levelOf = new Map(images.map((img) => [img.id, null]));
  const number = new Map(images.map((img, i) => [img.id, i + 1]));
  let selected = null;
  let dragId = null;

  const message = el("p", { class: "rank-message", role: "alert" });
  const conflictsBox = el("div", { class: "rank-conflicts", "aria-live": "polite" });

  // --- tiles -------------------------------------------------------------------
  const tiles = new Map(images.map((img) => {
    const rating = ratings[String(img.id)];
    const tile = el("div", {
      class: "tile", draggable: "true", tabindex: "0", role: "button", "aria-pressed": "false",
      "aria-label": `Image ${number.get(img.id)}${rating != null ? `, rated ${rating}` : ""}`,
      "data-own-enter": true, dataset: { imageId: String(img.id) },
    },
    el("img", { src: img.url, alt: "", width: img.width, height: img.height, draggable: "false" }),
    el("span", { class: "tile-num", text: String(number.get(img.id)) }),
    el("button", { type: "button", class: "tile-zoom", title: "View larger", "aria-label": `View image ${number.get(img.id)} larger`,
      onclick: (event) => { event.stopPropagation(); zoom(img); } }, "⤢"),
    rating != null ? el("span", { class: "tile-rating", text: `rated ${rating}` }) : null);
    tile.addEventListener("click", () => select(selected === img.id ? null : img.id));
    tile.addEventListener("keydown", (event) => {
      if (event.target !== tile) return;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        event.stopPropagation();
        select(selected === img.id ? null : img.id);
      }
    });
    tile.addEventListener("dragstart", (event) => {
      dragId = img.id;
      event.dataTransfer.setData("text/plain", String(img.id));
      event.dataTransfer.effectAllowed = "move";
      tile.classList.add("dragging");
    });
    tile.addEventListener("dragend", () => {
      dragId = null;
      tile.classList.remove("dragging");
      for (const zone of zones) zone.classList.remove("drop-ok", "drop-refused");
    });
    return [img.id, tile];
  }));

  // --- drop zones: the pool (index null) and the levels ------------------------------------
  const poolTiles = el("div", { class: "tiles" });
  const pool = el("div", { class: "rank-pool zone", dataset: { level: "pool" } },
    el("div", { class: "zone-label" }, el("strong", { text: "To rank" }), el("kbd", { text: "0" })), poolTiles);
  const levelTiles = [];
  const levelZones = [];
  for (let i = 0; i < nLevels; i++) {
    const tilesBox = el("div", { class: "tiles" });
    const zone = el("li", { class: "rank-level zone", dataset: { level: String(i + 1) },
      "aria-label": `Level ${i + 1}${LEVEL_NAMES[i] ? ` (${LEVEL_NAMES[i]})` : ""}` },
    el("div", { class: "zone-label" }, el("kbd", { text: String(i + 1) }),
      el("span", { text: i === 0 ? "best" : i === nLevels - 1 ? "worst" : "" })),
    tilesBox,
    el("span", { class: "zone-full", text: `full: at most ${maxPerLevel}` }));
    levelTiles.push(tilesBox);
    levelZones.push(zone);
  }
  const zones = [pool, ...levelZones];
  const board = el("ol", { class: "rank-levels" }, levelZones);

  function zoneLevel(zone) {
    return zone === pool ? null : levelZones.indexOf(zone);
  }

  function fits(level, id) {
    if (level === null) return true;
    let n = 0;
    for (const [other, l] of levelOf) if (l === level && other !== id) n++;
    return n < maxPerLevel;
  }

  for (const zone of zones) {
    zone.addEventListener("dragover", (event) => {
      if (dragId === null) return;
      const ok = fits(zoneLevel(zone), dragId);
      zone.classList.toggle("drop-ok", ok);
      zone.classList.toggle("drop-refused", !ok);
      if (ok) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
      } else {
        event.dataTransfer.dropEffect = "none";
      }
    });
    zone.addEventListener("dragenter", () => {
      if (dragId !== null && !fits(zoneLevel(zone), dragId)) refuse(zoneLevel(zone));
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("drop-ok", "drop-refused");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("drop-ok", "drop-refused");
      const id = dragId ?? Number(event.dataTransfer.getData("text/plain"));
      if (levelOf.has(id)) move(id, zoneLevel(zone));
    });
  }

  // A larger view for judging details; Escape or a click closes it.
  const zoomImg = el("img", { alt: "" });
  const zoomCaption = el("span");
  const zoomDialog = el("dialog", { class: "zoom-dialog" }, zoomImg,
    el("p", {}, zoomCaption, el("span", { class: "muted", text: "Esc to close" })));
  zoomDialog.addEventListener("click", () => zoomDialog.close());
  function zoom(img) {
    zoomImg.src = img.url;
    zoomImg.width = img.width;
    zoomImg.height = img.height;
    zoomCaption.textContent = `Image ${number.get(img.id)}`;
    zoomDialog.showModal();
  }

  function refuse(level) {
    message.textContent = `Level ${level + 1} already holds ${maxPerLevel} images: move one out first.`;
    const zone = levelZones[level];
    zone.classList.remove("refused-flash");
    void zone.offsetWidth; // restart the animation
    zone.classList.add("refused-flash");
  }
  for (const zone of levelZones) zone.addEventListener("animationend", () => zone.classList.remove("refused-flash"));

  function move(id, level) {
    if (!fits(level, id)) { refuse(level); return false; }
    levelOf.set(id, level);
    message.textContent = "";
    paint();
    ctx.changed();
    return true;
  }

  function select(id) {
    selected = id;
    paintSelection();
    if (id !== null) tiles.get(id).focus({ preventScroll: true });
  }

  function paintSelection() {
    for (const [id, tile] of tiles) {
      tile.classList.toggle("selected", id === selected);
      tile.setAttribute("aria-pressed", id === selected ? "true" : "false");
    }
  }

  function paint() {
    for (const img of images) {
      const level = levelOf.get(img.id);
      const box = level === null ? poolTiles : levelTiles[level];
      box.append(tiles.get(img.id));
    }
    for (let i = 0; i < nLevels; i++) {
      levelZones[i].classList.toggle("full", levelTiles[i].children.length >= maxPerLevel);
    }
    pool.classList.toggle("empty", poolTiles.children.length === 0);
    const conflicts = ratingConflicts(levelOf, ratings, images);
    for (const tile of tiles.values()) tile.classList.remove("conflict");
    conflictsBox.replaceChildren();
    if (conflicts.length) {
      conflictsBox.append(el("p", { class: "conflict-title", text: "This ranking contradicts your own ratings:" }));
      const list = el("ul");
      for (const c of conflicts) {
        tiles.get(c.better.id).classList.add("conflict");
        tiles.get(c.worse.id).classList.add("conflict");
        list.append(el("li", {
          text: `Image ${number.get(c.better.id)} (rated ${c.ra}) is ranked below image ${number.get(c.worse.id)} (rated ${c.rb}).`,
        }));
      }
      conflictsBox.append(list);
    }
    paintSelection();
  }

  const body = el("div", { class: "ranking" }, pool, board, message, conflictsBox, zoomDialog);
  paint();

  function unplaced() {
    return [...levelOf.values()].filter((l) => l === null).length;
  }

  return {
    keys: [attr.key],
    body,
    wide: true,
    hints: [["click / Enter", "select image"], [`1–${nLevels}`, "put in level"], ["0", "back"], ["drag", "move"]],
    value: () => {
      if (unplaced() === images.length) return null;
      const levels = Array.from({ length: nLevels }, () => []);
      for (const img of images) {
        const l = levelOf.get(img.id);
        if (l !== null) levels[l].push(img.id);
      }
      return { levels };
    },
    restore: (_key, v) => {
      if (!v || !Array.isArray(v.levels)) return;
      const used = new Map();
      v.levels.slice(0, nLevels).forEach((ids, level) => {
        for (const id of Array.isArray(ids) ? ids : []) {
          if (levelOf.has(id) && (used.get(level) || 0) < maxPerLevel) {
            levelOf.set(id, level);
            used.set(level, (used.get(level) || 0) + 1);
          }
        }
      });
      paint();
    },
    isAnswered: () => unplaced() === 0,
    problems: () => {
      const out = [];
      const n = unplaced();
      if (n && n < images.length) out.push(`${n} image${n === 1 ? "" : "s"} still to place.`);
      const conflicts = ratingConflicts(levelOf, ratings, images);
      if (conflicts.length) {
        out.push(`The ranking contradicts your ratings in ${conflicts.length} pair${conflicts.length === 1 ? "" : "s"}: fix it before submitting.`);
      }
      return out;
    },
    activeKey: () => attr.key,
    onKey: (event) => {
      if (event.key === "Escape" && selected !== null) { select(null); return true; }
      const d = digitOf(event);
      if (d === null || d > nLevels) return false;
      if (selected === null) {
        message.textContent = "Select an image first (click it, or Tab to it and press Enter).";
        return true;
      }
      if (move(selected, d === 0 ? null : d - 1)) {
        // Keep the keyboard flow going: the next image still to rank.
        const next = images.find((img) => levelOf.get(img.id) === null);
        select(next ? next.id : null);
      }
      return true;
    },
  };
}
