"""Point heatmaps: disk radius, union, averaging over annotators, grid cap, PNG round trip."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from annotator.consolidation import Spec, consolidate, consolidator
from annotator.consolidation.points import (
    disk_mask, grid_size, heatmap_from_png, heatmap_to_png, heatmap_u8_from_png, png_encode,
)

# A 20 x 10 image with radius 0.2 x height = 2 pixels.
SMALL = Spec(kind="points", options=("artifact",), radius_frac=0.2, width=20, height=10)
# The point (0.625, 0.25) is the centre (12.5, 2.5) of pixel (row 2, column 12).
MARK = {"points": [{"x": 0.625, "y": 0.25, "label": "artifact"}], "none": False}
NOTHING = {"points": [], "none": True}

# Pixels whose centre is within 2 px (boundary included) of (12.5, 2.5).
DISK = {(0, 12), (1, 11), (1, 12), (1, 13), (2, 10), (2, 11), (2, 12), (2, 13), (2, 14),
        (3, 11), (3, 12), (3, 13), (4, 12)}


def test_disk_radius_on_the_pixel_grid():
    mask = disk_mask([(0.625, 0.25)], (10, 20), 2.0)
    assert {tuple(p) for p in np.argwhere(mask)} == DISK
    assert mask[2, 14] and mask[0, 12] and mask[4, 12]        # exactly 2 px away: inside
    assert not mask[3, 14] and not mask[1, 14] and not mask[5, 12]  # sqrt(5), sqrt(5), 3 px away: outside


def test_two_annotators_one_marks_nothing_gives_half_inside_the_disk():
    result = consolidate("points", [MARK, NOTHING], SMALL)
    heat = result.heatmaps["artifact"]
    assert heat.shape == (10, 20)
    expected = np.zeros((10, 20))
    for row, col in DISK:
        expected[row, col] = 0.5
    np.testing.assert_array_equal(heat, expected)
    assert heat[2, 14] == 0.5 and heat[3, 14] == 0.0 and heat[2, 15] == 0.0
    assert result.value == {
        "width": 20, "height": 10, "radius_px": 2.0, "n_annotators": 2,
        "heatmaps": {"artifact": {"path": None, "share": 0.5, "n_marked": 1, "max": 0.5, "iou": 0.0,
                                  "iou_marked": 0.0, "n_pairs": 1}},
    }
    assert (result.score, result.agreement, result.n_responses, result.n_skipped) == (0.5, 0.0, 2, 0)


def test_union_is_clipped_to_one_and_maps_average_over_three():
    overlapping = {"points": [{"x": 0.625, "y": 0.25, "label": "artifact"},
                              {"x": 0.675, "y": 0.25, "label": "artifact"}], "none": False}
    result = consolidate("points", [overlapping, MARK, NOTHING], SMALL)
    heat = result.heatmaps["artifact"]
    # (2, 12) is in both disks of the first annotator (counted once) and in the second's.
    assert heat[2, 12] == pytest.approx(2 / 3, abs=1e-12)
    # (2, 15) is only in the first annotator's second disk (centre 13.5, 2.5).
    assert heat[2, 15] == pytest.approx(1 / 3, abs=1e-12)
    assert heat.max() == pytest.approx(2 / 3, abs=1e-12)
    first = disk_mask([(0.625, 0.25), (0.675, 0.25)], (10, 20), 2.0)
    second = disk_mask([(0.625, 0.25)], (10, 20), 2.0)
    assert (first.sum(), second.sum(), (first & second).sum()) == (18, 13, 13)
    # Pairs: (first, second) = 13 / 18, (first, nothing) = 0, (second, nothing) = 0.
    assert result.value["heatmaps"]["artifact"]["iou"] == pytest.approx(13 / 18 / 3, abs=1e-12)
    assert result.value["heatmaps"]["artifact"]["iou_marked"] == pytest.approx(13 / 18 / 3, abs=1e-12)


def test_nothing_marked_is_an_empty_map_and_full_agreement():
    result = consolidate("points", [NOTHING, NOTHING, NOTHING], SMALL)
    assert result.heatmaps["artifact"].max() == 0.0
    info = result.value["heatmaps"]["artifact"]
    assert (info["share"], info["max"], info["iou"], info["iou_marked"], info["n_pairs"]) == (0.0, 0.0, 1.0, None, 3)
    assert (result.score, result.agreement) == (0.0, 1.0)


def test_one_annotator_and_skips():
    result = consolidate("points", [MARK, {"skipped": True}], SMALL)
    assert result.heatmaps["artifact"].max() == 1.0
    assert (result.value["n_annotators"], result.n_responses, result.n_skipped, result.agreement) == (1, 2, 1, None)


def test_labels_get_separate_maps():
    spec = Spec(kind="points", options=("artifact", "misalignment"), radius_frac=0.2, width=20, height=10)
    answer = {"points": [{"x": 0.625, "y": 0.25, "label": "artifact"},
                         {"x": 0.125, "y": 0.75, "label": "misalignment"}], "none": False}
    result = consolidate("points", [answer, NOTHING], spec)
    assert result.heatmaps["artifact"][2, 12] == 0.5 and result.heatmaps["artifact"][7, 2] == 0.0
    assert result.heatmaps["misalignment"][7, 2] == 0.5 and result.heatmaps["misalignment"][2, 12] == 0.0


def test_grid_long_side_capped_at_512_with_the_radius_scaled():
    assert grid_size(1024, 768, 512) == (512, 384)
    assert grid_size(300, 200, 512) == (300, 200)
    spec = Spec(kind="points", options=("artifact",), radius_frac=0.05, width=1024, height=768)
    result = consolidate("points", [{"points": [{"x": 0.5, "y": 0.5, "label": "artifact"}], "none": False}], spec)
    assert result.heatmaps["artifact"].shape == (384, 512)
    assert result.value["radius_px"] == pytest.approx(0.05 * 384, abs=1e-12)
    mask = result.heatmaps["artifact"] > 0
    # radius 19.2 around (256, 192): the row through the centre spans 2 * 19 columns (centres at +-0.5 ... +-18.5)
    assert mask[192].sum() == 38 and mask[191].sum() == 38
    assert mask[192 - 19].any() and not mask[192 - 20].any()


def test_png_round_trip_is_png_over_255():
    heat = consolidate("points", [MARK, NOTHING], SMALL).heatmaps["artifact"]
    back = heatmap_from_png(heat_png := heatmap_to_png(heat))
    assert heat_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert back.dtype == np.float32 and back.shape == (10, 20)
    assert back[2, 12] == np.float32(128 / 255) and back[0, 0] == 0.0
    thirds = np.array([[0, 1 / 3, 2 / 3, 1.0]])
    np.testing.assert_array_equal(heatmap_from_png(heatmap_to_png(thirds)) * 255, [[0, 85, 170, 255]])


def test_png_read_back_grey_levels_from_any_8_bit_png():
    """Our identity-palette PNGs are read without conversion; a grey or a coloured-palette PNG is converted."""
    levels = np.array([[0, 85, 170, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(heatmap_u8_from_png(png_encode(levels)), levels)
    buffer = io.BytesIO()
    Image.fromarray(levels, mode="L").save(buffer, format="PNG")
    np.testing.assert_array_equal(heatmap_u8_from_png(buffer.getvalue()), levels)
    reversed_grey = Image.frombytes("P", (4, 1), bytes([0, 1, 2, 3]))
    reversed_grey.putpalette([255, 255, 255, 170, 170, 170, 85, 85, 85, 0, 0, 0])
    buffer = io.BytesIO()
    reversed_grey.save(buffer, format="PNG")
    np.testing.assert_array_equal(heatmap_u8_from_png(buffer.getvalue()), levels[:, ::-1])


def test_compare_with_consensus_region():
    points = consolidator("points")
    result = consolidate("points", [MARK, MARK, NOTHING], SMALL)
    reference = points.reference(result, SMALL)  # 2/3 > 0.5: the disk
    assert points.compare(MARK, reference, SMALL) == {"agreement": 1.0}
    assert points.compare(NOTHING, reference, SMALL) == {"agreement": 0.0}
    nobody = points.reference(consolidate("points", [NOTHING, NOTHING], SMALL), SMALL)
    assert points.compare(NOTHING, nobody, SMALL) == {"agreement": 1.0}


def test_points_without_image_size_are_refused():
    with pytest.raises(ValueError, match="image size"):
        consolidate("points", [MARK], Spec(kind="points", options=("artifact",)))


def test_points_job_writes_the_same_bytes_as_the_float_map(tmp_path):
    from PIL import Image

    from annotator.consolidation.points import points_job

    # Six annotators: k / 6 includes 5/6 * 255 = 212.5, where rounding the float decides.
    answers = [MARK] * 5 + [NOTHING]
    heat = consolidate("points", answers, SMALL).heatmaps["artifact"]
    result = points_job(answers, SMALL, {"artifact": "h/t_a_artifact.png"}, str(tmp_path))
    written = (tmp_path / "h" / "t_a_artifact.png").read_bytes()
    assert written == heatmap_to_png(heat)
    assert result.value["heatmaps"]["artifact"]["path"] == "h/t_a_artifact.png"
    assert result.heatmaps == {}
    with Image.open(tmp_path / "h" / "t_a_artifact.png") as image:
        # Pixel values are the grey levels whether read as palette indices or converted to greyscale.
        assert np.asarray(image)[2, 12] == np.asarray(image.convert("L"))[2, 12] == round(5 / 6 * 255)
    assert list(tmp_path.joinpath("h").iterdir()) == [tmp_path / "h" / "t_a_artifact.png"]  # no temp file left


def test_answer_agreements_reuse_the_masks_and_match_compare():
    from annotator.consolidation.base import answer_agreements

    points = consolidator("points")
    other = {"points": [{"x": 0.675, "y": 0.25, "label": "artifact"}], "none": False}
    answers = [MARK, other, MARK, NOTHING, {"skipped": True}]
    reference = points.reference(consolidate("points", answers, SMALL), SMALL)
    expected = [points.compare(a, reference, SMALL) for a in answers]
    assert answer_agreements(points, answers, SMALL) == expected
    # consensus: 3 of 4 cover the shared part of the two disks
    assert expected[0]["agreement"] == pytest.approx(np.sum(reference["artifact"]) / 13, abs=1e-12)
    assert (expected[3], expected[4]) == ({"agreement": 0.0}, None)
