"""The browser harness fails a page that axe-core rates seriously inaccessible."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.browser.harness import assert_accessible

pytestmark = pytest.mark.browser

INACCESSIBLE = """<!doctype html><html lang="fr"><head><title>t</title></head><body><main>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><form><input type="text" name="x"></form>
</main></body></html>"""

ACCESSIBLE = """<!doctype html><html lang="fr"><head><title>t</title></head><body><main>
<h1>Titre</h1><form><label for="x">Nom</label><input id="x" type="text" name="x"></form>
</main></body></html>"""


async def test_a_page_with_an_unlabelled_field_and_an_image_without_text_fails(browser: Browser) -> None:
    page = await browser.new_page()
    await page.set_content(INACCESSIBLE)

    with pytest.raises(AssertionError) as failure:
        await assert_accessible(page, "bad page")

    assert "image-alt" in str(failure.value)
    assert "label" in str(failure.value)
    await page.close()


async def test_a_plain_labelled_form_passes(browser: Browser) -> None:
    page = await browser.new_page()
    await page.set_content(ACCESSIBLE)

    await assert_accessible(page, "good page")
    await page.close()
