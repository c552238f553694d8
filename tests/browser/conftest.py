"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Never downloads a browser: the tests skip when /usr/bin/chromium is missing.
Screenshots land in ``screenshots/`` at the repository root (gitignored).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls
# made from the test body are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PASSWORD = "pw-123456"


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.js_errors = errors
    in_flight: set = set()
    context.on("request", lambda request: in_flight.add(request))
    context.on("requestfinished", lambda request: in_flight.discard(request))
    context.on("requestfailed", lambda request: in_flight.discard(request))
    yield page
    # The task page saves its draft on a timer and again when it is hidden (closing the context hides it).
    # A request the live server handles while the test database is flushed deadlocks the flush and leaves
    # this test's rows to the next test: refuse every new request, let those in flight finish, then close.
    context.route("**/*", lambda route: route.abort())
    deadline = time.monotonic() + 10
    while in_flight and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    context.close()
    assert not errors, errors


@pytest.fixture(autouse=True)
def _serve_test_media(settings, monkeypatch):
    """config.urls binds the media view's document_root at import; point it at this test's MEDIA_ROOT."""
    from django.views.static import serve

    from config import urls

    for pattern in urls.urlpatterns:
        if getattr(pattern, "callback", None) is serve:
            monkeypatch.setitem(pattern.default_args, "document_root", str(settings.MEDIA_ROOT))


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def login(live_server):
    """Sign in through the login form."""

    def do(page, user, next_path: str = "/"):
        page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
        return page

    return do


@pytest.fixture
def open_task(live_server, login):
    """Sign in and open a campaign's task page; waits until a task (or an end card) is shown."""

    def do(page, user, campaign):
        path = f"/campaigns/{campaign.pk}/annotate/"
        login(page, user, path)
        page.wait_for_selector("article.task, .end-card")
        return page

    return do


@pytest.fixture
def shoot(screenshot_dir):
    """Save a screenshot: of one element (a CSS selector) or of the whole page from the top."""

    def do(page, name: str, selector: str | None = None) -> Path:
        path = screenshot_dir / f"{name}.png"
        # Sticky parts (image column, submit bar) would sit where the viewport
        # ended or cover the element; in a picture they belong in the flow.
        style = page.add_style_tag(content=".media, .task-foot { position: static !important; }")
        if selector is not None:
            page.locator(selector).first.screenshot(path=str(path))
        else:
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(path), full_page=True)
        style.evaluate("node => node.remove()")
        return path

    return do


@pytest.fixture
def paint_scene():
    """Redraw a factory image as a small scene (sky, ground, a red cube, a blue sphere).

    The factories' flat pictures are fine for the logic; screenshots are easier
    to judge on something that looks like a generated image. Size and id stay.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    def do(image, variant: int = 0):
        w, h = image.width, image.height
        picture = PILImage.new("RGB", (w, h))
        draw = ImageDraw.Draw(picture)
        horizon = int(h * (0.58 + 0.04 * (variant % 3)))
        for y in range(h):
            t = y / max(1, horizon) if y < horizon else (y - horizon) / max(1, h - horizon)
            color = ((int(120 + 90 * t), int(170 + 50 * t), 235) if y < horizon
                     else (int(70 + 40 * t), int(120 - 30 * t), int(60 + 10 * t)))
            draw.line([(0, y), (w, y)], fill=color)
        sun = min(w, h) * 0.08
        sx = w * (0.2 + 0.15 * (variant % 4))
        draw.ellipse([sx - sun, h * 0.15 - sun, sx + sun, h * 0.15 + sun], fill=(255, 214, 90))
        side = min(w, h) * (0.22 + 0.03 * (variant % 2))
        cx, base = w * 0.38, horizon + h * 0.12
        draw.rectangle([cx - side / 2, base - side, cx + side / 2, base], fill=(205, 45, 50), outline=(90, 15, 20), width=3)
        r = side * 0.45
        bx = w * (0.68 - 0.05 * (variant % 3))
        draw.ellipse([bx - r, base - 2 * r, bx + r, base], fill=(50, 90, 210), outline=(15, 30, 90), width=3)
        picture.save(image.file.path, format="PNG")
        return image

    return do
