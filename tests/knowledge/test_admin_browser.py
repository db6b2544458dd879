"""The knowledge base pages fit a phone (390 px) and a desktop (1280 px): nothing scrolls sideways."""

import pytest

from promptlib.knowledge.models import Document
from promptlib.knowledge.services import document_upload, knowledge_publish
from tests.browser_support import ARTIFACTS
from tests.knowledge.conftest import POLICIES

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
LONG_WORD = "Supercalifragilisticexpialidocious-" * 4


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.browser
def test_the_knowledge_pages_fit_a_phone_and_a_desktop(transactional_db, live_server, page, alice, shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES.replace(b"30 days", b"14 days"),
                    tags=["policy"])  # fmt: skip
    document_upload(knowledge_base=shop_kb, source="faq/a-very-long-file-name-for-the-returns-faq.md",
                    data=f"# Returns\n\n{LONG_WORD} and a refund.".encode())  # fmt: skip
    knowledge_publish(knowledge_base=shop_kb)
    doc = Document.objects.get(source="policies.md", is_current=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("input[type=submit]")
    base = f"/admin/promptlib/knowledgebase/{shop_kb.pk}"
    pages = {
        "kb": f"{base}/change/",
        "kb-search": f"{base}/search/?query=refund+opened+bag&mode=keyword&top_k=4",
        "kb-compare": f"{base}/compare/?old=1&new=2",
        "kb-upload": f"{base}/upload/",
        "kb-preview": f"{base}/preview/",
        "kb-document": f"{base}/documents/{doc.pk}/",
        "kb-list": "/admin/promptlib/knowledgebase/",
    }
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.screenshot(path=str(ARTIFACTS / f"fit-{name}-{size['width']}.png"), full_page=True)
            assert _sideways(page) <= 0, f"{name} page scrolls sideways at {size['width']} px"
    page.goto(live_server.url + pages["kb-search"])
    assert page.locator("#search-results").inner_text() == "2 passages from snapshot #2"
    assert page.locator(".promptlib-kb-score").count() == 2
