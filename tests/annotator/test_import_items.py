"""Manifest import: validation, deduplication, groups, pairs, targets, slots, strict rollback."""
from __future__ import annotations

import csv
import hashlib
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from annotator.errors import ApplicationError
from annotator.images import image_validate
from annotator.models import (Group, GroupImage, Image, Item, Pair, Prompt, Slot, Target)
from annotator.services.campaigns import campaign_create
from annotator.services.imports import ImportRecord, Refusal, items_import, items_import_records
from annotator.tokens import tokenize

pytestmark = pytest.mark.django_db


def write_png(path: Path, seed: int, size: tuple[int, int] = (16, 16)) -> bytes:
    """A small PNG whose bytes differ for every seed."""
    image = PILImage.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13 + seed // 256) % 256))
    image.putpixel((0, 0), (seed % 256, seed // 256 % 256, 7))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path.read_bytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Prompt, Image, Item, Group, GroupImage, Pair, Target, Slot)}


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def campaign():
    campaign, _ = campaign_create(name="import-test", presets=["richhf", "imagereward", "sxs"])
    return campaign


CAT = "a red cat on a mat"
DOG = "two dogs, running"


@pytest.fixture
def good_rows(tmp_path):
    """Five images of CAT (one group, 10 pairs) and two of DOG (no group, 1 pair)."""
    rows = []
    for i in range(5):
        write_png(tmp_path / "img" / f"cat{i}.png", seed=i)
        rows.append({"prompt": CAT, "image": f"img/cat{i}.png", "generator": "sd-1.5", "seed": 100 + i,
                     "meta": {"n": i}})
    for i in range(2):
        write_png(tmp_path / "img" / f"dog{i}.png", seed=50 + i)
        rows.append({"prompt": DOG, "image": str(tmp_path / "img" / f"dog{i}.png")})
    return rows


# Attributes per target type for presets richhf + imagereward + sxs.
ITEM_ATTRS = 7 + 4  # richhf: 3 marking + 4 Likert; imagereward: 3 Likert + issues
PROMPT_ATTRS = 2  # prompt_category, prompt_flags
GROUP_ATTRS = 1  # ranking
PAIR_ATTRS = 1  # sxs


def assert_good_import(campaign, report, settings, tmp_path):
    assert (report.imported, report.duplicates, report.refused, report.rolled_back) == (7, 0, [], False)
    assert (report.groups, report.pairs, report.targets) == (1, 11, 7 + 1 + 11 + 2)
    assert counts() == {"Prompt": 2, "Image": 7, "Item": 7, "Group": 1, "GroupImage": 5, "Pair": 11,
                        "Target": 21, "Slot": 7 * ITEM_ATTRS + 2 * PROMPT_ATTRS + 1 * GROUP_ATTRS + 11 * PAIR_ATTRS}
    cat = Prompt.objects.get(text=CAT)
    assert cat.tokens == tokenize(CAT)
    assert cat.text_sha256 == hashlib.sha256(CAT.encode()).hexdigest()

    for i in range(5):
        data = (tmp_path / "img" / f"cat{i}.png").read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        image = Image.objects.get(sha256=sha)
        assert (image.width, image.height, image.format, image.byte_size) == (16, 16, "PNG", len(data))
        assert (image.prompt_id, image.generator, image.seed) == (cat.pk, "sd-1.5", 100 + i)
        assert image.file.name == f"images/{sha[:2]}/{sha}.png"
        assert (Path(settings.MEDIA_ROOT) / image.file.name).read_bytes() == data
        item = Item.objects.get(image=image)
        assert (item.campaign_id, item.external_id, item.meta, item.split) == (campaign.pk, sha[:16], {"n": i}, "train")
        assert item.target.type == "item" and item.target.prompt_id == cat.pk
    assert len(media_files(settings)) == 7

    group = Group.objects.get()
    cat_images = [Image.objects.get(sha256=hashlib.sha256((tmp_path / "img" / f"cat{i}.png").read_bytes()).hexdigest()).pk
                  for i in range(5)]
    assert list(group.members.values_list("image_id", "position")) == [(pk, i) for i, pk in enumerate(cat_images)]
    assert (group.prompt_id, group.target.type) == (cat.pk, "group")

    pairs = list(Pair.objects.values_list("image_a_id", "image_b_id"))
    assert all(a < b for a, b in pairs)
    assert len(set(pairs)) == 11
    assert sorted(Target.objects.filter(type="prompt").values_list("prompt__text", flat=True)) == sorted([CAT, DOG])
    ranking_slots = Slot.objects.filter(attribute__key="ranking")
    assert [s.target.group_id for s in ranking_slots] == [group.pk]
    assert Slot.objects.filter(attribute__key="sxs", target__type="pair").count() == 11


def test_jsonl_manifest_imports_everything(campaign, good_rows, tmp_path, settings):
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "m.jsonl", good_rows))
    assert_good_import(campaign, report, settings, tmp_path)
    assert report.summary() == "imported 7, duplicates 0, refused 0"


def test_csv_manifest_imports_everything(campaign, good_rows, tmp_path, settings):
    with (tmp_path / "m.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["prompt", "image", "generator", "seed", "meta"])
        writer.writeheader()
        for row in good_rows:
            writer.writerow({**row, "meta": json.dumps(row["meta"]) if "meta" in row else ""})
    report = items_import(campaign=campaign, manifest_path=tmp_path / "m.csv")
    assert_good_import(campaign, report, settings, tmp_path)


def test_csv_line_numbers_count_the_header(campaign, tmp_path):
    write_png(tmp_path / "a.png", seed=1)
    (tmp_path / "m.csv").write_text(
        "\ufeffprompt,image,seed,meta\n"             # line 1 (with a spreadsheet's byte-order mark)
        f"{CAT},a.png,1,\"{{\"\"k\"\": 1}}\"\n"  # line 2
        f"{CAT},b.png,,\n"                          # line 3: no such file
        ",,,\n"                                      # line 4: empty, skipped
        f"\"{DOG}\",a.png,x,\n"                     # line 5: bad seed
        f"{CAT},a.png,,{{not json\n")                # line 6: bad meta
    report = items_import(campaign=campaign, manifest_path=tmp_path / "m.csv")
    assert report.imported == 1
    assert [(r.line, r.reason) for r in report.refused] == [
        (3, "missing_file"), (5, "invalid_field"), (6, "invalid_field")]
    item = Item.objects.get()
    assert (item.meta, item.image.seed) == ({"k": 1}, 1)


def test_second_run_changes_nothing(campaign, good_rows, tmp_path, settings):
    manifest = write_jsonl(tmp_path / "m.jsonl", good_rows)
    items_import(campaign=campaign, manifest_path=manifest)
    before, files = counts(), media_files(settings)
    report = items_import(campaign=campaign, manifest_path=manifest)
    assert (report.imported, report.duplicates, report.refused, report.groups, report.pairs, report.targets) == \
        (0, 7, [], 0, 0, 0)
    assert counts() == before
    assert media_files(settings) == files


def test_refused_lines_are_reported_and_the_rest_imported(campaign, tmp_path, settings):
    good = write_png(tmp_path / "good.png", seed=1)
    write_png(tmp_path / "other.png", seed=2)
    (tmp_path / "same-bytes.png").write_bytes(good)
    (tmp_path / "truncated.png").write_bytes(write_png(tmp_path / "big.png", seed=3, size=(64, 64))[:-40])
    (tmp_path / "text.png").write_text("this is not an image")
    (tmp_path / "bomb.png").write_bytes(forged_png(30000, 30000))
    PILImage.new("RGB", (8, 8)).save(tmp_path / "anim.gif")
    rows = [
        {"prompt": CAT, "image": "good.png"},             # 1
        {"prompt": CAT, "image": "truncated.png"},        # 2 corrupt
        {"prompt": CAT, "image": "text.png"},             # 3 not an image
        {"prompt": CAT, "image": "missing.png"},          # 4 missing file
        {"prompt": CAT, "image": "same-bytes.png"},       # 5 duplicate of line 1
        {"prompt": CAT, "image": "bomb.png"},             # 6 decompression bomb
        {"prompt": CAT, "image": "anim.gif"},             # 7 format
        {"prompt": "", "image": "other.png"},             # 8 missing prompt
        {"prompt": DOG, "image": "good.png"},             # 9 same bytes, other prompt
        {"prompt": CAT, "image": "other.png", "seed": "x"},  # 10 bad seed
        {"prompt": CAT, "image": "other.png", "external_id": "good"},  # 11
    ]
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    with manifest.open("a") as fh:
        fh.write("{not json\n\n")  # 12 invalid JSON, 13 blank (ignored)
    report = items_import(campaign=campaign, manifest_path=manifest)
    assert (report.imported, report.duplicates) == (2, 1)
    assert [(r.line, r.reason) for r in report.refused] == [
        (2, "corrupt"), (3, "not_an_image"), (4, "missing_file"), (6, "decompression_bomb"), (7, "format"),
        (8, "missing_field"), (9, "prompt_conflict"), (10, "invalid_field"), (12, "invalid_json")]
    assert report.by_reason == {"corrupt": 1, "decompression_bomb": 1, "format": 1, "invalid_field": 1,
                                "invalid_json": 1, "missing_field": 1, "missing_file": 1, "not_an_image": 1,
                                "prompt_conflict": 1}
    assert report.summary().startswith("imported 2, duplicates 1, refused 9 (corrupt: 1, decompression_bomb: 1,")
    assert sorted(Item.objects.values_list("external_id", flat=True)) == sorted(
        ["good", hashlib.sha256(good).hexdigest()[:16]])
    assert Image.objects.count() == 2 and Prompt.objects.count() == 1
    # Only the two imported images were stored; refused bytes left nothing behind.
    assert len(media_files(settings)) == 2


def test_a_line_refused_while_writing_leaves_no_file(campaign, tmp_path, settings):
    write_png(tmp_path / "a.png", seed=1)
    write_png(tmp_path / "b.png", seed=2)
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "m.jsonl", [
        {"prompt": CAT, "image": "a.png", "external_id": "same"},
        {"prompt": CAT, "image": "b.png", "external_id": "same"}]))
    assert (report.imported, [(r.line, r.reason) for r in report.refused]) == (1, [(2, "duplicate_external_id")])
    assert [p.name for p in media_files(settings)] == [Image.objects.get().file.name.rsplit("/", 1)[1]]


def test_strict_refuses_the_whole_manifest(campaign, good_rows, tmp_path, settings):
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    manifest = write_jsonl(tmp_path / "m.jsonl", good_rows + [{"prompt": CAT, "image": "img/broken.png"}])
    before = counts()
    report = items_import(campaign=campaign, manifest_path=manifest, strict=True)
    assert report.rolled_back is True
    assert (report.imported, report.duplicates, report.groups, report.pairs, report.targets) == (0, 0, 0, 0, 0)
    assert report.refused == [Refusal(8, "corrupt", report.refused[0].detail)]
    assert counts() == before
    assert media_files(settings) == []
    assert report.summary() == "imported 0, duplicates 0, refused 1 (corrupt: 1); strict: nothing imported"


def test_strict_rolls_back_refusals_found_while_writing(campaign, good_rows, tmp_path, settings):
    rows = [dict(row, external_id="same") if i in (0, 3) else row for i, row in enumerate(good_rows)]
    before = counts()
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "m.jsonl", rows), strict=True)
    assert report.rolled_back is True
    assert [(r.line, r.reason) for r in report.refused] == [(4, "duplicate_external_id")]
    assert counts() == before
    assert media_files(settings) == []


def test_strict_passes_a_clean_manifest(campaign, good_rows, tmp_path, settings):
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "m.jsonl", good_rows), strict=True)
    assert_good_import(campaign, report, settings, tmp_path)


@pytest.mark.parametrize(("n", "sizes"), [(3, []), (4, [4]), (9, [9]), (10, [5, 5]), (19, [7, 6, 6])])
def test_automatic_groups_hold_four_to_nine_images(campaign, tmp_path, n, sizes):
    rows = []
    for i in range(n):
        write_png(tmp_path / f"{i}.png", seed=i)
        rows.append({"prompt": CAT, "image": f"{i}.png"})
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "m.jsonl", rows))
    groups = list(Group.objects.order_by("id"))
    assert [g.members.count() for g in groups] == sizes
    assert report.pairs == Pair.objects.count() == n * (n - 1) // 2
    ordered_images = list(Item.objects.order_by("id").values_list("image_id", flat=True))
    assert [m.image_id for g in groups for m in g.members.all()] == (ordered_images if sizes else [])
    assert Target.objects.filter(type="group").count() == len(sizes)


def test_later_imports_complete_groups_and_pairs(campaign, tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", seed=i)
    items_import(campaign=campaign, manifest_path=write_jsonl(
        tmp_path / "a.jsonl", [{"prompt": CAT, "image": f"{i}.png"} for i in range(2)]))
    assert (Group.objects.count(), Pair.objects.count()) == (0, 1)
    report = items_import(campaign=campaign, manifest_path=write_jsonl(
        tmp_path / "b.jsonl", [{"prompt": CAT, "image": f"{i}.png"} for i in range(4)]))
    assert (report.imported, report.duplicates, report.groups, report.pairs) == (2, 2, 1, 5)
    group = Group.objects.get()
    assert list(group.members.values_list("image_id", flat=True)) == list(
        Item.objects.order_by("id").values_list("image_id", flat=True))
    assert Pair.objects.count() == 6
    assert Target.objects.filter(type="prompt").count() == 1


BIRD = "a bird above a house"


def test_named_groups(campaign, tmp_path):
    for i in range(30):
        write_png(tmp_path / f"{i}.png", seed=i)
    rows = [{"prompt": CAT, "image": f"{i}.png", "group": "g-cat"} for i in range(4)]          # lines 1-4
    rows += [{"prompt": DOG, "image": f"{i}.png", "group": "small"} for i in range(4, 7)]      # lines 5-7
    rows += [{"prompt": BIRD, "image": f"{i}.png", "group": "big"} for i in range(7, 17)]      # lines 8-17
    rows += [{"prompt": CAT, "image": "17.png", "group": "mixed"},                              # lines 18-19
             {"prompt": DOG, "image": "18.png", "group": "mixed"}]
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "m.jsonl", rows))
    assert report.imported == 17
    assert [(r.line, r.reason) for r in report.refused] == [(18, "group_prompt"), (19, "group_prompt")]
    # "small" has 3 images: no group; "big" has 10: two groups of 5.
    assert [(g.name, g.prompt.text, g.members.count()) for g in Group.objects.order_by("id")] == [
        ("g-cat", CAT, 4), ("big-1", BIRD, 5), ("big-2", BIRD, 5)]
    ids = {i: Image.objects.get(sha256=hashlib.sha256((tmp_path / f"{i}.png").read_bytes()).hexdigest()).pk
           for i in range(17)}
    assert list(Group.objects.get(name="big-2").members.values_list("image_id", "position")) == [
        (ids[i], i - 12) for i in range(12, 17)]

    # Later lines of an existing group join it, up to nine images.
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "more.jsonl", [
        {"prompt": CAT, "image": "20.png", "group": "g-cat"},
        {"prompt": DOG, "image": "21.png", "group": "small"},  # small: now 4 ungrouped DOG images
        {"prompt": BIRD, "image": "22.png", "group": "big"},  # a new "big" of 1: joins BIRD's pool, no group
    ]))
    assert (report.imported, report.refused, report.groups) == (3, [], 1)
    g_cat = Group.objects.get(name="g-cat")
    assert list(g_cat.members.values_list("position", flat=True)) == [0, 1, 2, 3, 4]
    dog_group = Group.objects.get(prompt__text=DOG)
    assert (dog_group.name, dog_group.members.count()) == (f"auto-{dog_group.prompt_id}-1", 4)
    report = items_import(campaign=campaign, manifest_path=write_jsonl(tmp_path / "over.jsonl", [
        {"prompt": CAT, "image": f"{i}.png", "group": "g-cat"} for i in range(23, 28)]))
    assert report.imported == 0
    assert {r.reason for r in report.refused} == {"group_size"}
    assert g_cat.members.count() == 5


def test_images_are_shared_between_campaigns(campaign, good_rows, tmp_path, settings):
    manifest = write_jsonl(tmp_path / "m.jsonl", good_rows)
    items_import(campaign=campaign, manifest_path=manifest)
    other, _ = campaign_create(name="other", presets=["tia2"])
    report = items_import(campaign=other, manifest_path=manifest)
    assert (report.imported, report.duplicates) == (7, 0)
    assert (Image.objects.count(), Prompt.objects.count(), Item.objects.count()) == (7, 2, 14)
    assert Slot.objects.filter(campaign=other).count() == 7  # tia2: one item attribute
    assert len(media_files(settings)) == 7


def test_records_with_bytes(campaign, tmp_path):
    data = write_png(tmp_path / "x.png", seed=5)
    report = items_import_records(campaign=campaign, base_dir=tmp_path, records=[
        ImportRecord(line=1, prompt=CAT, image="upload.png", data=data, external_id="u1", split="heldout")])
    assert (report.imported, report.refused) == (1, [])
    item = Item.objects.get()
    assert (item.external_id, item.split, item.image.sha256) == ("u1", "heldout", hashlib.sha256(data).hexdigest())


def test_manifest_errors(campaign, tmp_path):
    (tmp_path / "m.txt").write_text("")
    with pytest.raises(ApplicationError) as exc:
        items_import(campaign=campaign, manifest_path=tmp_path / "m.txt")
    assert exc.value.extra == {"field": "manifest", "rule": "format"}
    (tmp_path / "m.csv").write_text("text,image\nx,y.png\n")
    with pytest.raises(ApplicationError) as exc:
        items_import(campaign=campaign, manifest_path=tmp_path / "m.csv")
    assert exc.value.extra == {"field": "manifest", "rule": "columns"}
    with pytest.raises(ApplicationError) as exc:
        items_import(campaign=campaign, manifest_path=tmp_path / "absent.jsonl")
    assert exc.value.extra == {"field": "manifest", "rule": "exists"}
    assert counts()["Item"] == 0


# --------------------------------------------------------------------------- image_validate


def rule_of(data: bytes) -> str:
    with pytest.raises(ApplicationError) as exc:
        image_validate(data=data, name="x.png")
    assert exc.value.extra["field"] == "image"
    return exc.value.extra["rule"]


def test_validate_accepts_png_jpeg_webp(tmp_path):
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")):
        PILImage.new("RGB", (20, 10), (200, 10, 10)).save(tmp_path / f"a.{ext}", format=fmt)
        data = (tmp_path / f"a.{ext}").read_bytes()
        v = image_validate(data=data, name=f"a.{ext}")
        assert (v.width, v.height, v.format, v.extension, v.byte_size, v.sha256) == (
            20, 10, fmt, ext, len(data), hashlib.sha256(data).hexdigest())


def test_validate_refusals(tmp_path, settings):
    data = write_png(tmp_path / "a.png", seed=1, size=(64, 64))
    assert rule_of(b"") == "not_an_image"
    assert rule_of(b"GIF89a" + b"\x00" * 20) == "not_an_image"  # a broken GIF is not an allowed image at all
    assert rule_of(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50) == "corrupt"
    assert rule_of(b"hello, world") == "not_an_image"
    assert rule_of(data[:-40]) == "corrupt"
    # A flipped byte inside IDAT breaks the chunk checksum that verify() reads.
    broken = bytearray(data)
    broken[data.index(b"IDAT") + 10] ^= 0xFF
    assert rule_of(bytes(broken)) == "corrupt"
    out = tmp_path / "a.bmp"
    PILImage.new("RGB", (4, 4)).save(out)
    assert rule_of(out.read_bytes()) == "format"
    settings.IMAGE_MAX_BYTES = len(data) - 1
    assert rule_of(data) == "too_many_bytes"


def test_validate_pixel_limits(tmp_path, settings):
    data = write_png(tmp_path / "a.png", seed=1, size=(64, 64))  # 4096 pixels
    # Over the limit, under twice the limit: Pillow only warns; still refused.
    settings.IMAGE_MAX_PIXELS = 3000
    assert rule_of(data) == "too_many_pixels"
    # Over twice the limit: Pillow's DecompressionBombError.
    settings.IMAGE_MAX_PIXELS = 1000
    assert rule_of(data) == "decompression_bomb"
    settings.IMAGE_MAX_PIXELS = 4096
    assert image_validate(data=data, name="a.png").width == 64
    # A header claiming 30000 x 30000 is refused before any decoding.
    settings.IMAGE_MAX_PIXELS = 40_000_000
    assert rule_of(forged_png(30000, 30000)) == "decompression_bomb"


def test_validate_png_text_chunk_bomb(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "0" * (PngImagePlugin.MAX_TEXT_CHUNK + 1), zip=True)
    PILImage.new("RGB", (8, 8)).save(tmp_path / "t.png", pnginfo=info)
    assert rule_of((tmp_path / "t.png").read_bytes()) == "decompression_bomb"
