"""Pillow + numpy rendering of a planned scene, deterministic from its seed.

Stages, in order; each draws its randomness from its own child seed, so
leaving a stage out (``skip``) never changes what the others draw. That is
what lets the tests compare an image with its undistorted twin pixel by
pixel.

1. background (flat or textured gradient), glow and vignette, drop shadows
2. staring eyes (disturbing), clutter, action motion cues: behind the objects
3. objects (flat fill + outline, or shaded), then faces (funny)
4. local distortions, exposure, blur, noise (``defects.py``)

Only neutral greys, white and black are drawn besides the palette colours of
objects and clutter, and backgrounds are never saturated, so a hue mask finds
each object as one connected component (checked at 512 px and, with rare
exceptions on thin crescents, at 256 px; below that outlines can cut shapes).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from rewardlab.synthetic.defects import Drawn, Quality, apply_distortion
from rewardlab.synthetic.layout import Placed
from rewardlab.synthetic.spec import PALETTE
from rewardlab.synthetic.style import Style

QUALITY_STAGES = ("distortions", "exposure", "blur", "noise", "clutter")
STAGES = {"background": 1, "eyes": 2, "clutter": 3, "objects": 4, "noise": 5}

# Where a face fits inside each shape: (dx, dy, inscribed radius) in units of r, before rotation.
FACE_ANCHOR = {
    "circle": (0.0, 0.0, 0.95), "square": (0.0, 0.0, 0.68), "triangle": (0.0, 0.08, 0.46),
    "star": (0.0, 0.03, 0.34), "hexagon": (0.0, 0.0, 0.84), "heart": (0.0, -0.05, 0.5),
    "moon": (-0.6, 0.0, 0.36),
}


def _rng(seed: int, stage: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, STAGES[stage]]))


def _polygon(n: int, r: float, angle: float, start: float = -90.0, inner: float | None = None) -> list[tuple[float, float]]:
    pts = []
    k = 2 * n if inner else n
    for i in range(k):
        rad = (inner if inner and i % 2 else 1.0) * r
        a = math.radians(start + angle + 360.0 * i / k)
        pts.append((rad * math.cos(a), rad * math.sin(a)))
    return pts


def shape_outline(shape: str, r: float, angle: float) -> list[tuple[float, float]] | None:
    """Polygon vertices relative to the centre (pixels), or None for circle and moon."""
    if shape == "square":
        return _polygon(4, r, angle, start=-45.0)
    if shape == "triangle":
        return _polygon(3, r, angle)
    if shape == "star":
        return _polygon(5, r, angle, inner=0.45)
    if shape == "hexagon":
        return _polygon(6, r, angle, start=0.0)
    if shape == "heart":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) - 2.5
        s = r / 17.0
        a = math.radians(angle)
        return [(float(s * (xi * math.cos(a) - yi * math.sin(a))), float(s * (xi * math.sin(a) + yi * math.cos(a))))
                for xi, yi in zip(x, y)]
    return None


def shape_mask(shape: str, r: float, angle: float) -> np.ndarray:
    """Boolean mask of side ``2 * ceil(r) + 3`` centred on the object's centre."""
    half = int(math.ceil(r)) + 1
    side = 2 * half + 1
    img = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(img)
    c = float(half)
    if shape == "circle":
        draw.ellipse((c - r, c - r, c + r, c + r), fill=255)
    elif shape == "moon":
        draw.ellipse((c - r, c - r, c + r, c + r), fill=255)
        a = math.radians(angle)
        ox, oy = 0.55 * r * math.cos(a), 0.55 * r * math.sin(a)
        r2 = 0.75 * r
        draw.ellipse((c + ox - r2, c + oy - r2, c + ox + r2, c + oy + r2), fill=0)
    else:
        draw.polygon([(c + x, c + y) for x, y in shape_outline(shape, r, angle)], fill=255)
    return np.asarray(img) > 127


def _face_anchor(p: Placed, shape: str, size: int) -> tuple[float, float, float]:
    dx, dy, k = FACE_ANCHOR[shape]
    r = p.r * size
    a = math.radians(p.angle)
    if shape == "moon":  # the thick side of the crescent, opposite the bite
        ca, sa = math.cos(a), math.sin(a)
        return p.x * size + dx * r * ca, p.y * size + dx * r * sa, k * r
    return p.x * size + dx * r, p.y * size + dy * r, k * r


# -- stage 1: background ------------------------------------------------------------

_GRAIN_SIDE = 1024
_GRAIN: dict[int, np.ndarray] = {}


def _grain(size: int) -> np.ndarray:
    """Fine film grain (multiplicative, 1 +- 2.5 %): one fixed-seed field, each image reads a window of it."""
    side = max(size, _GRAIN_SIDE)
    if side not in _GRAIN:
        g = np.random.default_rng(20240601).random((side, side), dtype=np.float32)
        _GRAIN[side] = 0.975 + 0.05 * g
    return _GRAIN[side]


def _smooth(field: np.ndarray, size: int) -> np.ndarray:
    """Upsample a smooth low-resolution float field to ``size`` (cheaper than computing it per pixel)."""
    return np.array(Image.fromarray(field.astype(np.float32), "F").resize((size, size), Image.BILINEAR))


def _background(size: int, style: Style, layout: tuple[Placed, ...], drawn: Drawn,
                rng: np.random.Generator) -> Image.Image:
    base = np.asarray(style.background, dtype=np.float32)
    lo = 64  # smooth fields (light, glow, vignette) are computed at lo x lo and upsampled
    ys = (np.arange(lo, dtype=np.float32) + 0.5) / lo
    xs = ys
    gain = np.ones((lo, lo), np.float32)  # multiplies the base colour
    glow = np.zeros((lo, lo), np.float32)  # share of the tint
    if style.photo:
        # Light falls from the top: vertical gradient and a low-frequency texture (luminance only).
        tex = np.asarray(Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8), "L")
                         .resize((lo, lo), Image.BICUBIC), np.float32) / 255.0 - 0.5
        gain = (1.08 - 0.22 * ys)[:, None] * (1.0 + 0.12 * tex)
    tint = np.zeros(3, np.float32)
    if style.glow:
        on = [p for p in layout if p.drawn] or list(layout)
        gx = float(np.mean([p.x for p in on])) if on else 0.5
        gy = float(np.mean([p.y for p in on])) if on else 0.5
        d2 = (xs[None, :] - gx) ** 2 + (ys[:, None] - gy) ** 2
        glow = np.exp(-d2 / (2 * 0.28 ** 2)) * (0.55 if style.light else 0.4)
        tint = 0.72 * 255.0 + 0.28 * np.asarray(PALETTE[drawn.colours[0]], np.float32)
        vignette = 1.0 - 0.6 * ((xs[None, :] - 0.5) ** 2 + (ys[:, None] - 0.5) ** 2)
        gain = gain * (1.0 - glow) * vignette
        glow = glow * vignette
    gain_full = _smooth(gain, size)
    if style.photo:
        oy, ox = (int(v) for v in rng.integers(0, _GRAIN_SIDE - size + 1, size=2)) if size <= _GRAIN_SIDE else (0, 0)
        gain_full *= _grain(size)[oy:oy + size, ox:ox + size]
        shadow = Image.new("L", (size, size), 0)
        for p in layout:
            if not p.drawn:
                continue
            r = p.r * size
            m = Image.fromarray(shape_mask(drawn.shapes[p.entity], r, p.angle).astype(np.uint8) * 255, "L")
            half = (m.size[0] - 1) // 2
            ox, oy = int(round(p.x * size + 0.18 * r)) - half, int(round(p.y * size + 0.22 * r)) - half
            shadow.paste(255, (ox, oy), m)
        shadow = shadow.filter(ImageFilter.BoxBlur(max(1, int(size * 0.008))))
        gain_full *= 1.0 - (0.45 / 255.0) * np.asarray(shadow, np.float32)
    glow_full = _smooth(glow, size) if style.glow else None
    channels = []
    for c in range(3):  # per channel: 2-D float passes are much cheaper than one (H, W, 3) pass
        ch = gain_full * base[c]
        if glow_full is not None:
            ch += glow_full * tint[c]
        np.clip(ch, 0, 255, out=ch)
        channels.append(Image.fromarray(ch.astype(np.uint8), "L"))
    return Image.merge("RGB", channels)


# -- stage 2: behind the objects ----------------------------------------------------

def _neutral(style: Style) -> tuple[int, int, int]:
    return (70, 70, 70) if style.light else (205, 205, 205)


def _staring_eyes(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> None:
    n = int(rng.integers(14, 25))
    for _ in range(n):
        x, y = rng.uniform(0.03, 0.97, size=2) * size
        rx = float(rng.uniform(0.022, 0.034)) * size
        ry = rx * 0.6
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=(242, 240, 236), outline=(25, 25, 25), width=2)
        pr = ry * 0.7
        draw.ellipse((x - pr, y - pr, x + pr, y + pr), fill=(20, 20, 20))


def _clutter(draw: ImageDraw.ImageDraw, size: int, n: int, rng: np.random.Generator) -> None:
    colours = list(PALETTE.values())
    for _ in range(n):
        x, y = rng.uniform(0.0, 1.0, size=2) * size
        r = float(rng.uniform(0.008, 0.022)) * size
        col = colours[int(rng.integers(len(colours)))]
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=col)
        else:
            poly = _polygon(3 if kind == 1 else 4, r, float(rng.uniform(0, 360)))
            draw.polygon([(x + a, y + b) for a, b in poly], fill=col)


def _action_cue(draw: ImageDraw.ImageDraw, p: Placed, action: str, size: int, colour) -> None:
    x, y, r = p.x * size, p.y * size, p.r * size
    w = max(2, int(round(0.08 * r)))
    if action == "spinning":
        rr = 1.3 * r
        for start in (200.0, 20.0):
            draw.arc((x - rr, y - rr, x + rr, y + rr), start, start + 80.0, fill=colour, width=w)
            a = math.radians(start + 80.0)
            ex, ey = x + rr * math.cos(a), y + rr * math.sin(a)
            t = a + math.pi / 2  # arrow head along the tangent
            hs = 0.18 * r
            draw.polygon([(ex + hs * math.cos(t), ey + hs * math.sin(t)),
                          (ex + hs * math.cos(a), ey + hs * math.sin(a)),
                          (ex - hs * math.cos(a), ey - hs * math.sin(a))], fill=colour)
    elif action == "bouncing":
        for dy, half in ((1.18, 0.8), (1.38, 0.5)):
            draw.line((x - half * r, y + dy * r, x + half * r, y + dy * r), fill=colour, width=w)
        draw.arc((x - 1.4 * r, y - 1.4 * r, x - 0.6 * r, y + 1.0 * r), 100, 170, fill=colour, width=w)
        draw.arc((x + 0.6 * r, y - 1.4 * r, x + 1.4 * r, y + 1.0 * r), 10, 80, fill=colour, width=w)
    elif action == "falling":
        for dx in (-0.5, 0.0, 0.5):
            top = 1.42 if dx == 0.0 else 1.3
            draw.line((x + dx * r, y - top * r, x + dx * r, y - 1.1 * r), fill=colour, width=w)
    else:  # pragma: no cover
        raise ValueError(action)


# -- stage 3: objects ---------------------------------------------------------------

def _outline_width(r: float) -> int:
    return max(2, int(round(0.07 * r)))


def _paste_object(img: Image.Image, p: Placed, shape: str, colour: tuple[int, int, int], style: Style,
                  size: int) -> None:
    r = p.r * size
    mask = shape_mask(shape, r, p.angle)
    side = mask.shape[0]
    half = (side - 1) // 2
    ox, oy = int(round(p.x * size)) - half, int(round(p.y * size)) - half
    col = np.asarray(colour, np.float32)
    if style.photo:
        # Light from the top left and a spherical fall-off: multiplying RGB keeps hue and saturation.
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
        lit = (-(xx + yy) / (math.sqrt(2) * r)).clip(-1, 1)
        shade = (0.8 + 0.2 * lit) * (1.0 - 0.15 * ((xx * xx + yy * yy) / (r * r)).clip(0, 1))
        patch = col[None, None, :] * shade[:, :, None]
        fill = Image.fromarray(np.clip(patch, 0, 255).astype(np.uint8), "RGB")
        img.paste(fill, (ox, oy), Image.fromarray(mask.astype(np.uint8) * 255, "L"))
    else:
        img.paste(tuple(int(c) for c in colour), (ox, oy, ox + side, oy + side),
                  Image.fromarray(mask.astype(np.uint8) * 255, "L"))
        width = _outline_width(r)
        inner = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255, "L").filter(ImageFilter.MinFilter(2 * width + 1))) > 127
        edge = mask & ~inner
        img.paste((20, 20, 20), (ox, oy, ox + side, oy + side), Image.fromarray(edge.astype(np.uint8) * 255, "L"))


def _face(draw: ImageDraw.ImageDraw, p: Placed, shape: str, size: int, rng: np.random.Generator,
          inset: float) -> None:
    """Googly eyes and a smile inside the shape's inscribed circle (less ``inset`` px of outline)."""
    cx, cy, k = _face_anchor(p, shape, size)
    k = max(2.0, k - inset)
    er = 0.28 * k
    for sx in (-1, 1):
        ex, ey = cx + sx * 0.38 * k, cy - 0.2 * k
        draw.ellipse((ex - er, ey - er, ex + er, ey + er), fill=(250, 250, 250), outline=(15, 15, 15), width=1)
        pr = 0.5 * er
        jx, jy = rng.uniform(-0.35, 0.35, size=2) * er
        draw.ellipse((ex + jx - pr, ey + jy - pr, ex + jx + pr, ey + jy + pr), fill=(15, 15, 15))
    w = max(1, int(round(0.1 * k)))
    draw.arc((cx - 0.42 * k, cy - 0.15 * k, cx + 0.42 * k, cy + 0.5 * k), 25, 155, fill=(15, 15, 15), width=w)


# -- the whole pipeline -------------------------------------------------------------

def render_scene(*, size: int, drawn: Drawn, layout: tuple[Placed, ...], style: Style, quality: Quality,
                 seed: int, skip: Iterable[str] = ()) -> Image.Image:
    """Render one image. ``skip`` names quality stages to leave out (see ``QUALITY_STAGES``)."""
    skip = set(skip)
    unknown = skip - set(QUALITY_STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {QUALITY_STAGES}")
    img = _background(size, style, layout, drawn, _rng(seed, "background"))
    draw = ImageDraw.Draw(img)
    if style.disturbing:
        _staring_eyes(draw, size, _rng(seed, "eyes"))
    if quality.clutter and "clutter" not in skip:
        _clutter(draw, size, quality.clutter, _rng(seed, "clutter"))
    on = [p for p in layout if p.drawn]
    if drawn.action:
        for p in on:
            if p.entity == 0:
                _action_cue(draw, p, drawn.action, size, _neutral(style))
    for p in on:
        _paste_object(img, p, drawn.shapes[p.entity], PALETTE[drawn.colours[p.entity]], style, size)
    if style.funny:
        face_rng = _rng(seed, "objects")
        draw = ImageDraw.Draw(img)
        for p in on:
            inset = 0.0 if style.photo else _outline_width(p.r * size) + 0.5
            _face(draw, p, drawn.shapes[p.entity], size, face_rng, inset)
    return _post(img, quality, seed, skip)


def _post(img: Image.Image, quality: Quality, seed: int, skip: set[str]) -> Image.Image:
    """Quality defects on the finished scene: distortions, exposure, blur, noise."""
    if quality.distortions and "distortions" not in skip:
        arr = np.array(img)
        for d in quality.distortions:
            apply_distortion(arr, d)
        img = Image.fromarray(arr, "RGB")
    if quality.exposure and "exposure" not in skip:
        lut = np.arange(256, dtype=np.float32)
        lut = lut * 0.3 if quality.exposure == "dark" else 0.7 * 255 + 0.3 * lut
        img = img.point(np.clip(np.rint(lut), 0, 255).astype(np.uint8).tolist() * 3)
    if quality.blur and "blur" not in skip:
        img = img.filter(ImageFilter.GaussianBlur(quality.blur * img.size[0]))
    if quality.noise and "noise" not in skip:
        rng = _rng(seed, "noise")
        arr = np.asarray(img, np.float32)
        arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * (quality.noise * 255.0)
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
    return img
