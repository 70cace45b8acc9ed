"""Real headless Chromium for the pickup site's tests: the Debian browser, axe-core in every
page, a screenshot of every page.

The browser is the system's `/usr/bin/chromium` (Debian package `chromium`); Playwright
drives it and never downloads one of its own (DESIGN.md §7). axe-core comes from the npm
lock file in `tests/browser/tools/axe` (`make test-tools`).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = ROOT / "tests" / "browser" / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# What fails a page: WCAG problems axe rates serious or critical.
BLOCKING_IMPACTS = ("serious", "critical")


def screenshot_root() -> Path:
    """Where the run's screenshots go: $LRE_SCREENSHOTS, else var/screenshots (ignored by git)."""
    return Path(os.environ.get("LRE_SCREENSHOTS", ROOT / "var" / "screenshots"))


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    if not AXE.exists():
        return f"{AXE} is missing: make test-tools"
    return None


async def launch(playwright: Playwright) -> Browser:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@functools.cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({targets})")
    return "\n".join(lines)


async def assert_accessible(page: Page, name: str) -> None:
    """Run axe-core on the page; fail on any serious or critical violation, listing them."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol rather than added as a <script> tag: the
        # site's Content-Security-Policy (no inline script) stays in force during the walk.
        await page.evaluate(axe_source())
    results: dict[str, Any] = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe: {len(blocking)} serious or critical violation(s) on {name}:\n" + describe(
        blocking
    )


@dataclass
class Walk:
    """One visitor's tab. `see(name)` checks the page now shown (axe, no CSP or script
    error, none of the texts in `hidden` anywhere in it, no sideways scrolling) and saves
    its screenshot; `finish()` fails if a page was loaded and not seen."""

    page: Page
    directory: Path
    seen: list[str] = field(default_factory=list)
    loads: int = 0
    checked_loads: int = 0
    console_errors: list[str] = field(default_factory=list)
    # What the visitor must not be shown yet (CPCE R.53-3: the sender, before acceptance).
    hidden: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("load", self._loaded)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _loaded(self, _page: Page) -> None:
        self.loads += 1

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def see(self, name: str) -> Page:
        await self.page.wait_for_load_state("load")
        self.checked_loads = self.loads
        await assert_accessible(self.page, name)
        self.seen.append(name)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        await self.page.screenshot(path=self.directory / f"{len(self.seen):02d}-{slug}.png", full_page=True)
        blocked = [e for e in self.console_errors if "Content Security Policy" in e or "Uncaught" in e]
        assert not blocked, f"script or CSP errors on {name}: {blocked}"
        content = await self.page.content()
        shown = [text for text in self.hidden if text in content]
        assert not shown, f"{name} shows {shown}"
        overflow = await self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow} px wider than the screen"
        return self.page

    def finish(self) -> None:
        assert self.checked_loads == self.loads, (
            f"{self.loads - self.checked_loads} page load(s) after {self.seen[-1:]} were not checked"
        )
