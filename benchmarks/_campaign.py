"""Build a large campaign fast, straight into the database (benchmarks only).

Real import validates every image with Pillow (benchmarks/import_items.py
times that); a load test needs 10,000 items in seconds, so this writes tiny
distinct PNGs and bulk-creates the rows.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

from django.conf import settings
from PIL import Image as PILImage

from annotator.models import Image, Item, Prompt, Target
from annotator.services.campaigns import campaign_create, slots_ensure
from annotator.services.users import user_create
from annotator.tokens import tokenize

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle", "star"]


def _png(i: int) -> bytes:
    img = PILImage.new("RGB", (8, 8), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    img.putpixel((i % 8, (i // 8) % 8), ((i // 64) % 256, (i // 16384) % 256, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_campaign(*, n_items: int, presets: str, policy: str = "all", n_users: int = 32,
                   images_per_prompt: int = 4, name: str = "load") -> tuple[int, list[str]]:
    campaign, _ = campaign_create(name=name, presets=presets.split(","), policy=policy)
    media = Path(settings.MEDIA_ROOT) / "images" / "bench"
    media.mkdir(parents=True, exist_ok=True)
    n_prompts = (n_items + images_per_prompt - 1) // images_per_prompt
    prompts = []
    for p in range(n_prompts):
        text = f"{p % 3 + 1} {COLOURS[p % 6]} {SHAPES[p % 4]}s next to a {COLOURS[(p + 2) % 6]} {SHAPES[(p + 1) % 4]} #{p}"
        prompts.append(Prompt(text=text, text_sha256=hashlib.sha256(text.encode()).hexdigest(), tokens=tokenize(text)))
    Prompt.objects.bulk_create(prompts, batch_size=2000)
    prompts = list(Prompt.objects.order_by("id"))[-n_prompts:]
    images = []
    for i in range(n_items):
        data = _png(i)
        sha = hashlib.sha256(data).hexdigest()
        (media / f"{sha}.png").write_bytes(data)
        images.append(Image(file=f"images/bench/{sha}.png", width=8, height=8, sha256=sha, byte_size=len(data),
                            format="PNG", prompt=prompts[i // images_per_prompt], generator="bench", seed=i))
    Image.objects.bulk_create(images, batch_size=2000)
    images = list(Image.objects.filter(generator="bench").order_by("id"))
    Item.objects.bulk_create([Item(campaign=campaign, image=img, external_id=f"bench-{k}")
                              for k, img in enumerate(images)], batch_size=2000)
    items = list(Item.objects.filter(campaign=campaign).select_related("image").order_by("id"))
    Target.objects.bulk_create([Target(campaign=campaign, type="item", item=it, prompt_id=it.image.prompt_id)
                                for it in items], batch_size=2000)
    Target.objects.bulk_create([Target(campaign=campaign, type="prompt", prompt=p) for p in prompts], batch_size=2000)
    slots_ensure(campaign=campaign)
    tokens = [user_create(username=f"load{u}", role="annotator")[1].key for u in range(n_users)]
    return campaign.pk, tokens
