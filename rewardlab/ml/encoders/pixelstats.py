"""``pixelstats``: deterministic image statistics, the offline default image encoder.

The attributes annotators judge (bright, blurry, noisy, colourful, "mostly
red", "busy") are largely low-level, so plain statistics carry much of what a
reward model needs when no pretrained network is at hand. Every statistic is
computed on the whole image and on each cell of a coarse grid, so "the top is
dark" or "red on the left" are representable too.

Per region (whole image, then grid cells row by row), 17 values:
brightness (mean luma), contrast (luma std), colourfulness (Hasler and
Süsstrunk 2003), mean saturation, sharpness (log variance of the Laplacian),
edge density (share of pixels with Sobel magnitude above a threshold), and the
share of pixels of each named colour (11: red, orange, yellow, green, cyan,
blue, purple, pink, white, gray, black).

Whole image only, 30 values: saturation-and-value weighted hue histogram (12
bins), saturation histogram (4), luma histogram (8), clipped highlights and
crushed shadows shares, sharpness and noise (robust MAD of Immerkær's
high-pass) on a native-resolution centre crop, because downscaling hides both,
log aspect ratio and log size.

Values are scaled to roughly [0, 1] (logs for the heavy-tailed ones). Images
are resized to ``size`` x ``size`` first, so the cost is nearly independent of
the input resolution.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from rewardlab.ml.encoders.base import Encoder, register_encoder

COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "gray", "black")
#: Upper hue bound (degrees) of each chromatic colour in COLOURS order (red..pink);
#: hues from the last bound up to 360 are red again.
_HUE_EDGES = np.array([15, 45, 70, 160, 200, 255, 290, 345], dtype=np.float32)
#: Colour index of each of PIL's 256 hue codes.
_HUE_LABEL = np.searchsorted(_HUE_EDGES, np.arange(256) * 360.0 / 255.0, side="right") % len(_HUE_EDGES)
_WHITE, _GRAY, _BLACK = COLOURS.index("white"), COLOURS.index("gray"), COLOURS.index("black")
REGION_FEATURES = ("brightness", "contrast", "colourfulness", "saturation", "sharpness", "edge_density") + tuple(
    f"colour_{c}" for c in COLOURS
)
GLOBAL_FEATURES = (
    tuple(f"hue_hist_{i}" for i in range(12))
    + tuple(f"sat_hist_{i}" for i in range(4))
    + tuple(f"luma_hist_{i}" for i in range(8))
    + ("highlights_clipped", "shadows_crushed", "native_sharpness", "native_noise", "log_aspect", "log_size")
)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_EDGE_THRESHOLD = 0.25  # Sobel magnitude on [0, 1] luma; ~ a 6% step across 3 px
_NATIVE_CROP = 128


def _sharpness_scale(laplacian_var: np.ndarray | float) -> np.ndarray:
    # log10 variance spans ~[-6, -1] from flat to very sharp 8-bit images.
    return (np.log10(np.asarray(laplacian_var, dtype=np.float64) + 1e-6) + 6.0) / 5.0


def _noise_scale(sigma: float) -> float:
    # log10 sigma spans ~[-4, -1]: from clean to heavy noise on [0, 1] luma.
    return (np.log10(sigma + 1e-4) + 4.0) / 3.0


@register_encoder
class PixelStatsEncoder(Encoder):
    """Image statistics on a ``grid`` x ``grid`` layout after resizing to ``size`` px."""

    name = "pixelstats"
    modalities = frozenset({"image"})

    def __init__(self, size: int = 144, grid: int = 3) -> None:
        if size % grid:
            raise ValueError("size must be a multiple of grid")
        self.size = int(size)
        self.grid = int(grid)
        self.dim = len(REGION_FEATURES) * (1 + self.grid**2) + len(GLOBAL_FEATURES)
        self.version = f"1-s{self.size}-g{self.grid}"
        cell_of_row = np.arange(self.size) // (self.size // self.grid)
        self._cell_index = cell_of_row[:, None] * self.grid + cell_of_row[None, :]

    @property
    def feature_names(self) -> list[str]:
        regions = ["all"] + [f"r{r}c{c}" for r in range(self.grid) for c in range(self.grid)]
        return [f"{reg}:{f}" for reg in regions for f in REGION_FEATURES] + list(GLOBAL_FEATURES)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = self._encode_one(image)
        return out

    # -- internals -----------------------------------------------------------------
    def _encode_one(self, image: Image.Image) -> np.ndarray:
        g, S = self.grid, self.size
        rgb_img = image if image.mode == "RGB" else image.convert("RGB")
        width, height = rgb_img.size
        small = rgb_img.resize((S, S), Image.Resampling.BILINEAR, reducing_gap=1.0)
        rgb = np.asarray(small, dtype=np.float32) / 255.0
        hsv8 = np.asarray(small.convert("HSV"))
        hsv = hsv8.astype(np.float32) / 255.0
        hue, sat, val = hsv[..., 0] * 360.0, hsv[..., 1], hsv[..., 2]
        luma = rgb @ _LUMA
        rg = rgb[..., 0] - rgb[..., 1]
        yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
        lap = ndimage.laplace(luma)
        edges = np.hypot(ndimage.sobel(luma, axis=0), ndimage.sobel(luma, axis=1)) > _EDGE_THRESHOLD

        # First and second moments of every per-pixel map, per cell, in one pass;
        # cells are equal-sized, so the whole image's mean is the mean of cells.
        maps = np.stack([luma, luma * luma, rg, rg * rg, yb, yb * yb, sat, lap, lap * lap, edges], axis=-1)
        cells = maps.reshape(g, S // g, g, S // g, maps.shape[-1]).mean(axis=(1, 3)).reshape(g * g, -1)
        m = np.concatenate([cells.mean(axis=0, keepdims=True), cells]).astype(np.float64)  # (regions, maps)
        brightness = m[:, 0]
        contrast = np.sqrt(np.maximum(m[:, 1] - m[:, 0] ** 2, 0.0))
        var_rg = np.maximum(m[:, 3] - m[:, 2] ** 2, 0.0)
        var_yb = np.maximum(m[:, 5] - m[:, 4] ** 2, 0.0)
        colourfulness = np.sqrt(var_rg + var_yb) + 0.3 * np.sqrt(m[:, 2] ** 2 + m[:, 4] ** 2)
        sharpness = _sharpness_scale(np.maximum(m[:, 8] - m[:, 7] ** 2, 0.0))

        # One colour label per pixel (index into COLOURS), counted per cell by one bincount.
        label = _HUE_LABEL[hsv8[..., 0]]
        chromatic = (sat > 0.25) & (val > 0.2)
        label = np.where(chromatic, label, np.where(val <= 0.2, _BLACK, np.where(val > 0.8, _WHITE, _GRAY)))
        n_col = len(COLOURS)
        counts = np.bincount((self._cell_index * n_col + label).ravel(), minlength=g * g * n_col)
        counts = counts.reshape(g * g, n_col) / (S // g) ** 2
        colour_masses = np.concatenate([counts.mean(axis=0, keepdims=True), counts])

        region = np.column_stack([brightness, contrast, colourfulness, m[:, 6], sharpness, m[:, 9], colour_masses])

        chroma = (sat * val).ravel()
        hue_hist = np.bincount(np.minimum((hue.ravel() / 30.0).astype(np.int64), 11), weights=chroma, minlength=12)
        hue_hist = hue_hist / chroma.size
        sat_hist = np.bincount(np.minimum((sat.ravel() * 4).astype(np.int64), 3), minlength=4) / sat.size
        luma_hist = np.bincount(np.minimum((luma.ravel() * 8).astype(np.int64), 7), minlength=8) / luma.size
        native_sharpness, native_noise = self._native_detail(rgb_img)
        extras = np.concatenate([
            hue_hist, sat_hist, luma_hist,
            [(luma > 0.98).mean(), (luma < 0.02).mean(), native_sharpness, native_noise,
             np.clip(np.log2(width / height), -2.0, 2.0) / 2.0,
             np.clip(np.log2(width * height / 512.0**2), -4.0, 4.0) / 4.0],
        ])
        return np.concatenate([region.ravel(), extras]).astype(np.float32)

    @staticmethod
    def _native_detail(rgb_img: Image.Image) -> tuple[float, float]:
        """Sharpness and noise on a centre crop at full resolution."""
        w, h = rgb_img.size
        cw, ch = min(w, _NATIVE_CROP), min(h, _NATIVE_CROP)
        left, top = (w - cw) // 2, (h - ch) // 2
        crop = np.asarray(rgb_img.crop((left, top, left + cw, top + ch)).convert("L"), dtype=np.float32) / 255.0
        if min(crop.shape) < 3:
            return 0.0, 0.0
        sharp = float(_sharpness_scale(ndimage.laplace(crop).var()))
        # Immerkær's operator cancels smooth structure; the median of its absolute
        # response ignores the edges that survive. Output std is 6 x noise std.
        hp = ndimage.convolve(crop, _IMMERKAER, mode="reflect")
        sigma = 1.4826 * float(np.median(np.abs(hp))) / 6.0
        return sharp, float(_noise_scale(sigma))
