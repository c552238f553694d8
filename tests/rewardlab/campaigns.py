"""A small labelled campaign for the rewardlab tests: real images, real responses, real consolidation.

Four item attributes: ``bright`` and ``chaotic`` (binary), ``aesthetics``
(5-point Likert, binarised at 0.5) and the coarse ``overall_good``
(binary, good iff bright and not chaotic). Bright images have a light
background, dark ones a dark one; chaotic images are covered in small
rectangles, so the offline ``pixelstats`` encoder can read both concepts.
One annotator answers every attribute of every item (overlap 1) with
``active_ms`` = 1000, so the cost of any set of responses is exact.
"""
from __future__ import annotations

import hashlib
import io
import random

from django.core.files.base import ContentFile
from PIL import Image as PILImage
from PIL import ImageDraw
from PIL.PngImagePlugin import PngInfo

from annotator.models import Image
from annotator.services.consolidation import campaign_consolidate
from tests import factories as f

ACTIVE_MS = 1000
#: Small enough that a whole training run takes a fraction of a second on CPU.
FAST_PARAMS = {"hidden": [16], "epochs": 2, "min_steps": 150, "batch_size": 16}
FAST_CONFIG = {"params": FAST_PARAMS, "mc_samples": 4}


def picture_bytes(*, bright: bool, chaotic: bool, index: int, salt: int = 0, size: int = 32) -> bytes:
    """A PNG whose background says ``bright`` and whose clutter says ``chaotic``.

    The pixels depend on ``index`` only (clutter and one marker pixel); ``salt`` goes into a PNG text
    chunk, so pictures of different campaigns are distinct files with the same pixels. Nothing here may
    depend on database ids: on PostgreSQL they depend on how many tests ran before, and the small models
    trained on these pictures would then learn from different data in a full run than alone.
    """
    rng = random.Random(index)
    base = 225 if bright else 30
    picture = PILImage.new("RGB", (size, size), (base, base - 5, base + 5))
    draw = ImageDraw.Draw(picture)
    if chaotic:
        for _ in range(40):
            x, y = rng.randrange(size), rng.randrange(size)
            draw.rectangle([x, y, x + 2, y + 2], fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    picture.putpixel((index % size, (index // size) % size), (index % 251, 17, 99))
    info = PngInfo()
    info.add_text("salt", str(salt))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def image_store(*, data: bytes, prompt) -> Image:
    sha = hashlib.sha256(data).hexdigest()
    with PILImage.open(io.BytesIO(data)) as probe:
        width, height = probe.size
    image = Image(prompt=prompt, sha256=sha, byte_size=len(data), format="PNG", generator="test", width=width,
                  height=height)
    image.file.save(f"{sha}.png", ContentFile(data), save=False)
    image.width, image.height = width, height
    image.save()
    return image


def truth(p: int, k: int) -> dict[str, bool]:
    bright = (p + k) % 2 == 0
    chaotic = k >= 2
    return {"bright": bright, "chaotic": chaotic, "good": bright and not chaotic}


def labelled_campaign(*, n_prompts: int = 10, per_prompt: int = 4, heldout_prompts=(0, 1), name: str | None = None,
                      coarse_value=None) -> dict:
    """The campaign, its attributes, items (prompt p, image k) and the annotator; consolidated.

    ``coarse_value(p, k)`` overrides the coarse answer (e.g. one class only).
    """
    campaign = f.campaign_make(name=name, presets=[], overlap=1)
    attrs = {
        "bright": f.attribute_make(campaign=campaign, key="bright", kind="binary", options=["yes", "no", "unsure"]),
        "chaotic": f.attribute_make(campaign=campaign, key="chaotic", kind="binary", options=["yes", "no", "unsure"]),
        "aesthetics": f.attribute_make(campaign=campaign, key="aesthetics", kind="likert", likert_points=5,
                                       binarize_threshold=0.5),
        "overall_good": f.attribute_make(campaign=campaign, key="overall_good", kind="binary", is_coarse=True,
                                         category="overall", options=["yes", "no", "unsure"]),
    }
    annotator = f.user_make(username=f"labeller-{campaign.pk}")
    items = {}
    for p in range(n_prompts):
        # The same text in every campaign (prompts are shared by text): the default text encoder hashes
        # the words, so an id in the text would change the features with the test order.
        prompt = f.prompt_make(text=f"prompt {p}: a bright or dark scene")
        for k in range(per_prompt):
            t = truth(p, k)
            image = image_store(data=picture_bytes(bright=t["bright"], chaotic=t["chaotic"], index=p * per_prompt + k,
                                                   salt=campaign.pk), prompt=prompt)
            item = f.item_make(campaign=campaign, image=image, external_id=f"c{campaign.pk}-p{p}-k{k}",
                               split="heldout" if p in heldout_prompts else "train")
            items[(p, k)] = item
            good = t["good"] if coarse_value is None else coarse_value(p, k)
            answers = {"bright": {"value": t["bright"]}, "chaotic": {"value": t["chaotic"]},
                       "aesthetics": {"value": 4 if t["bright"] else 2}, "overall_good": {"value": good}}
            for key, value in answers.items():
                f.response_make(annotator=annotator, target=item.target, attribute=attrs[key], value=value,
                                active_ms=ACTIVE_MS)
    campaign_consolidate(campaign=campaign, workers=0)
    return {"campaign": campaign, "attributes": attrs, "items": items, "annotator": annotator}
