"""Management commands: create_campaign, create_user, import_items, seed_synthetic."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token

from annotator.models import Attribute, Campaign, Group, Image, Item, Pair, Slot, Target

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


def test_create_campaign_prints_the_id_and_is_idempotent():
    out = run("create_campaign", "study", "--presets", "richhf,collins", "--overlap", "5", "--radius-frac", "0.1")
    campaign = Campaign.objects.get(name="study")
    assert out == f"{campaign.pk}\n"
    assert (campaign.overlap, campaign.point_radius_frac) == (5, 0.1)
    assert Attribute.objects.filter(campaign=campaign).count() == 7 + 14
    assert run("create_campaign", "study", "--presets", "tia2", "--overlap", "2") == f"{campaign.pk}\n"
    campaign.refresh_from_db()
    assert campaign.overlap == 5
    assert (Campaign.objects.count(), Attribute.objects.count()) == (1, 21)


def test_create_campaign_refuses_unknown_presets():
    with pytest.raises(CommandError, match="Unknown preset 'nope'"):
        run("create_campaign", "study", "--presets", "richhf,nope")
    assert Campaign.objects.count() == 0


def test_create_user_prints_a_stable_token_last():
    out = run("create_user", "alice", "--role", "annotator", "--password", "pw-123456", "--print-token")
    token = Token.objects.get(user__username="alice").key
    assert out.splitlines()[-1] == token
    again = run("create_user", "alice", "--role", "annotator", "--print-token")
    assert again.splitlines()[-1] == token
    assert Token.objects.count() == 1
    user = Token.objects.get().user
    assert user.check_password("pw-123456")
    assert list(user.groups.values_list("name", flat=True)) == ["annotator"]
    assert token not in run("create_user", "alice", "--role", "annotator")


def test_create_user_refuses_unknown_role():
    with pytest.raises(CommandError):
        run("create_user", "bob", "--role", "admin")
    assert not Token.objects.exists()


def write_images(tmp_path: Path, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        PILImage.new("RGB", (8, 8), (i * 40, 10, 10)).save(tmp_path / f"{i}.png")
        rows.append({"prompt": "a cat", "image": f"{i}.png"})
    return rows


def test_import_items_prints_refusals_and_a_summary(tmp_path):
    run("create_campaign", "c1", "--presets", "tia2")
    rows = write_images(tmp_path, 4) + [{"prompt": "a cat", "image": "missing.png"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run("import_items", "c1", str(tmp_path / "m.jsonl"), "--no-progress")
    lines = out.splitlines()
    assert lines[0].startswith("line 5: missing_file: missing.png")
    assert lines[-1] == "imported 4, duplicates 0, refused 1 (missing_file: 1)"
    assert Item.objects.count() == 4
    campaign_id = Campaign.objects.get().pk
    out = run("import_items", str(campaign_id), str(tmp_path / "m.jsonl"), "--no-progress")
    assert out.splitlines()[-1] == "imported 0, duplicates 4, refused 1 (missing_file: 1)"


def test_import_items_strict_exits_1_and_imports_nothing(tmp_path):
    run("create_campaign", "c1", "--presets", "tia2")
    rows = write_images(tmp_path, 4) + [{"prompt": "a cat", "image": "missing.png"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(CommandError) as exc:
        run("import_items", "c1", str(tmp_path / "m.jsonl"), "--strict", "--no-progress")
    assert exc.value.returncode == 1
    assert (Item.objects.count(), Image.objects.count(), Target.objects.count()) == (0, 0, 0)


def test_import_items_unknown_campaign(tmp_path):
    with pytest.raises(CommandError, match="No campaign named or numbered 'nope'"):
        run("import_items", "nope", str(tmp_path / "m.jsonl"))


def test_seed_synthetic_builds_a_campaign_with_truth_and_splits(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    out = run("seed_synthetic", "syn", "--prompts", "5", "--images-per-prompt", "4", "--seed", "3", "--size", "64")
    campaign = Campaign.objects.get(name="syn")
    assert set(campaign.attributes.values_list("preset", flat=True)) == {"collins", "imagereward", "richhf"}
    assert "imported 20, duplicates 0, refused 0" in out
    items = list(Item.objects.filter(campaign=campaign).select_related("image__prompt"))
    assert len(items) == 20
    assert all(set(item.meta["truth"]) >= {"overall_good", "distorted", "artifact_points", "ir_overall"}
               for item in items)
    assert all(item.image.generator == "synthetic-v1" and item.image.seed == 3 for item in items)
    # One prompt in five is held out, whole prompts only.
    split_of_prompt = {}
    for item in items:
        split_of_prompt.setdefault(item.image.prompt.text, set()).add(item.split)
    assert all(len(splits) == 1 for splits in split_of_prompt.values())
    assert sorted(s for (s,) in split_of_prompt.values()) == ["heldout"] + ["train"] * (len(split_of_prompt) - 1)
    # Four images per prompt: the generator's group names become the ranking groups.
    assert Group.objects.filter(campaign=campaign).count() == 5
    assert Pair.objects.filter(campaign=campaign).count() == 5 * 6

    info_path = Path(settings.VAR_DIR) / "synthetic" / f"{campaign.pk}-3" / "seed_info.json"
    info = json.loads(info_path.read_text())
    assert (info["campaign_id"], info["seed"], info["tree"]) == (campaign.pk, 3, "linear")
    assert info["heldout_prompts"] == [p for p, (s,) in split_of_prompt.items() if s == "heldout"]
    truth_lines = (info_path.parent / "ground_truth.jsonl").read_text().splitlines()
    assert len(truth_lines) == 20

    slots = Slot.objects.count()
    out = run("seed_synthetic", "syn", "--prompts", "5", "--images-per-prompt", "4", "--seed", "3", "--size", "64")
    assert "imported 0, duplicates 20, refused 0" in out
    assert (Item.objects.count(), Slot.objects.count()) == (20, slots)
