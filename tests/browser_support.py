"""A headless Debian Chromium page for the browser tests (Playwright cannot download its own browser here).

Without Chromium the browser tests are skipped, with one line saying how to run them; under CI=true they
fail instead. `make test` installs it first when it can (.ci/chromium).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; .ci/chromium checks the same path
ENABLE = "sudo apt-get install chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


_skipped = pytest.StashKey[int]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.hookimpl(trylast=True)  # after `-m` and `-k` deselected theirs
def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists() or _in_ci():
        return
    browser_tests = [item for item in items if item.get_closest_marker("browser")]
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (to run them: {ENABLE})")
    for item in browser_tests:
        item.add_marker(skip)
    config.stash[_skipped] = len(browser_tests)


def pytest_terminal_summary(terminalreporter, config):
    if count := config.stash.get(_skipped, 0):
        terminalreporter.write_line(
            f"Skipped {count} browser tests: no Chromium at {CHROMIUM} (to run them: {ENABLE}).", yellow=True
        )


@pytest.fixture
def page(monkeypatch):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():  # only under CI=true: elsewhere the browser tests were skipped
        pytest.fail(f"No Chromium at {CHROMIUM}, and under CI the browser tests must run ({ENABLE}).")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        # Playwright marks its event loop as running in this thread between calls, so the test's ORM
        # calls got a connection of their own (Django keeps one per async context) that pytest-django
        # never closes: it would hold the test database open until the end, and DROP DATABASE fail.
        connections.close_all()
        context.close()
        browser.close()
