"""The review queue in a real (headless) browser: a reviewer approves, rejects and edits with the keyboard, and the
experiment page's review effort follows; the queue and the review page fit a desktop and a phone."""

import pytest

from promptlib.analysis.report import experiment_report_invalidate
from promptlib.batches.models import BatchItem, Review, ScorerConfig
from promptlib.batches.services import batch_run_inline
from tests.batches_support import make_batch
from tests.browser_support import ARTIFACTS
from tests.calibration_support import grader_add, judge

SIZES = ({"width": 1280, "height": 800}, {"width": 390, "height": 844})
INSTRUCTIONS = "Approve answers that name the right category. Reject anything else."
# Multi-line, ending in a newline: the browser sends it back with CRLF endings and Django drops the newline.
ANSWER = '{\n  "category": "billing"\n}\n'

EFFORT = """() => {
  const rows = {};
  let metric = null;
  for (const tr of document.querySelectorAll('#section-offline tbody tr')) {
    const th = tr.querySelector('th[scope=rowgroup]');
    if (th) metric = th.firstChild.textContent.trim();
    const cells = tr.querySelectorAll('td');
    rows[metric + ' / ' + cells[0].textContent.trim()] = cells[1].textContent.trim();
  }
  return rows;
}"""


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.fixture
def review_batch(triage_experiment, tickets):
    ScorerConfig.objects.create(
        experiment=triage_experiment, kind="human_review", name="reviewer", order=3, counts_for_success=False,
        config={"instructions": INSTRUCTIONS},
    )  # fmt: skip
    batch = batch_run_inline(batch=make_batch(triage_experiment, tickets))
    batch.items.update(output=ANSWER)
    # An AI grader passed every answer: the reviewers' verdicts below are checked against it.
    grader_add(triage_experiment, name="grader", counts=False)
    judge(list(batch.items.order_by("id")), [True] * batch.items.count())
    return batch


@pytest.mark.browser
def test_a_reviewer_approves_rejects_and_edits_with_the_keyboard(
    transactional_db, live_server, page, bob, triage_experiment, review_batch
):
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "pw-bob")
    page.click("input[type=submit]")
    ARTIFACTS.mkdir(exist_ok=True)
    dashboard = f"{live_server.url}/admin/promptlib/experiment/{triage_experiment.pk}/dashboard/"

    # The experiment page says how many answers wait, and the button opens the first one.
    page.goto(dashboard)
    expect(page.locator("#awaiting-count")).to_have_text("12 answers")
    grader = page.locator('#calibration [data-judge="grader"]')
    expect(grader.locator(".pl-confusion")).to_have_count(0)  # nobody has reviewed a judged answer yet
    page.click("#start-review")
    items = list(review_batch.items.order_by("id"))
    expect(page.locator("h1")).to_have_text(f"Review answer {items[0].pk}")
    expect(page.locator("#review-instructions")).to_contain_text(INSTRUCTIONS)
    expect(page.locator("#review-keys")).to_contain_text("approve")
    page.screenshot(path=str(ARTIFACTS / "review-page-1280.png"), full_page=True)

    page.keyboard.press("a")  # approve, untouched
    expect(page.locator("h1")).to_have_text(f"Review answer {items[1].pk}")
    page.keyboard.press("r")  # reject
    expect(page.locator("h1")).to_have_text(f"Review answer {items[2].pk}")
    page.keyboard.press("e")  # into the box: keys are typing now, not shortcuts
    box = page.locator("#id_edited_output")
    expect(box).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type('{"category": "account"}\nreason: a refund')  # "a", "r", "n" typed, nothing fired
    expect(page.locator("h1")).to_have_text(f"Review answer {items[2].pk}")
    expect(box).to_have_value('{"category": "account"}\nreason: a refund')
    page.keyboard.press("Control+Enter")  # submits, approved
    expect(page.locator("h1")).to_have_text(f"Review answer {items[3].pk}")
    page.keyboard.press("n")  # skip without reviewing
    expect(page.locator("h1")).to_have_text(f"Review answer {items[4].pk}")

    reviews = {r.result_id: r for r in Review.objects.all()}
    assert set(reviews) == {items[0].pk, items[1].pk, items[2].pk}
    assert (reviews[items[0].pk].approved, reviews[items[0].pk].edited_output) == (True, "")  # no edit
    assert (reviews[items[1].pk].approved, reviews[items[1].pk].edited_output) == (False, "")
    assert (reviews[items[2].pk].approved, reviews[items[2].pk].edited_output) == (
        True, '{"category": "account"}\nreason: a refund')  # fmt: skip
    assert all(r.seconds > 0 for r in reviews.values())

    # Going back to a reviewed answer says so at once, with nothing to type.
    page.goto(f"{live_server.url}/admin/promptlib/batchitem/{items[0].pk}/review/")
    expect(page.locator("#already-reviewed")).to_contain_text("You already reviewed this answer")
    expect(page.locator("#review-form")).to_have_count(0)

    # Review effort on the experiment page: one edit among the reviewed answers of its variant.
    experiment_report_invalidate(experiment_id=triage_experiment.pk)
    page.goto(dashboard)
    expect(page.locator("#awaiting-count")).to_have_text("9 answers")
    effort = page.evaluate(EFFORT)
    variants = {item.pk: item.variant.key for item in BatchItem.objects.select_related("variant")}
    edited_variant = variants[items[2].pk]
    reviewed_there = sum(variants[pk] == edited_variant for pk in reviews)
    assert effort[f"Answers needing an edit / {edited_variant}"] == f"{100 / reviewed_there:.1f}%"
    for other in {variants[pk] for pk in reviews} - {edited_variant}:
        assert effort[f"Answers needing an edit / {other}"] == "0.0%"
    assert effort[f"Review time (typical) / {edited_variant}"].endswith("s")
    # The grader's calibration table follows: it passed all three, the reviewers rejected one.
    expect(grader).to_contain_text("On 3 answers both the grader and a reviewer judged, they agreed on 66.7%")
    expect(grader.locator(".pl-confusion")).to_contain_text("The grader passed 2 answers the reviewers approved.")
    expect(grader.locator(".pl-confusion")).to_contain_text("The grader passed 1 answer the reviewers rejected.")
    grader.screenshot(path=str(ARTIFACTS / "review-calibration-after-keyboard-reviews.png"))
    page.screenshot(path=str(ARTIFACTS / "review-effort-on-the-experiment-page.png"), full_page=True)

    # The queue and the review page fit a desktop and a phone.
    problems = []
    for size in SIZES:
        page.set_viewport_size(size)
        for name, path in (("queue", f"/admin/promptlib/batchitem/review/?experiment={triage_experiment.pk}"),
                           ("review page", f"/admin/promptlib/batchitem/{items[5].pk}/review/"),
                           ("answers list", "/admin/promptlib/batchitem/")):  # fmt: skip
            page.goto(live_server.url + path)
            page.screenshot(
                path=str(ARTIFACTS / f"review-{name.replace(' ', '-')}-{size['width']}.png"), full_page=True
            )
            if _sideways(page) > 0:
                problems.append(f"{name} scrolls sideways at {size['width']} px")
        review_link = page.locator("#result_list a", has_text="Review").first
        if not review_link.is_visible() or review_link.bounding_box()["x"] + 20 > size["width"]:
            problems.append(f"the answers list hides its Review link at {size['width']} px")
    assert not problems, problems
    assert not errors, errors
