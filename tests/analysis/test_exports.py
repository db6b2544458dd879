"""Exports: results CSV (one row per call) and fine-tuning JSONL (chosen outputs in chat format)."""

import csv
import io
import json

from promptlib.analysis.exports import finetune_jsonl, results_csv
from promptlib.batches.models import BatchItem, Review
from promptlib.batches.reviews import review_submit
from tests.analysis_support import winner_batch


def _csv(experiment):
    return list(csv.DictReader(io.StringIO("".join(results_csv(experiment=experiment)))))


def test_the_csv_has_one_row_per_call(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    rows = _csv(wording_experiment)
    assert len(rows) == 120
    assert rows[0]["case"] == "1"
    assert {r["variant"] for r in rows} == {"control", "b"}


def test_the_csv_carries_outcomes_and_outputs(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    row = next(r for r in _csv(wording_experiment) if r["variant"] == "b" and r["case"] == "3")
    assert (row["success"], row["version"], row["output"]) == ("True", "2", "Hello Customer 3, from b")
    assert json.loads(row["scores"])[0]["metric"] == "category_match"


def test_the_csv_neutralises_formulas(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    BatchItem.objects.filter(variant__key="b", case__position=1).update(output="=HYPERLINK(1)")
    row = next(r for r in _csv(wording_experiment) if r["variant"] == "b" and r["case"] == "1")
    assert row["output"] == "'=HYPERLINK(1)"


def _jsonl(experiment, winner_key="b"):
    winner = experiment.variants.get(key=winner_key)
    return [json.loads(line) for line in finetune_jsonl(experiment=experiment, winner_id=winner.pk)]


def test_the_jsonl_has_the_winners_successful_outputs_in_chat_format(wording_experiment, customers):
    winner_batch(wording_experiment, customers)
    lines = _jsonl(wording_experiment)
    assert len(lines) == 55  # b passed 55 of 60 cases
    roles = [m["role"] for m in lines[0]["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert "Write a welcome email to Customer 1." in lines[0]["messages"][1]["content"]
    assert lines[0]["messages"][2]["content"] == "Hello Customer 1, from b"


def test_the_jsonl_prefers_an_approved_review_and_its_edit(wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    item = BatchItem.objects.get(variant__key="control", case__position=60)
    Review.objects.create(
        result=item, reviewer=alice, approved=True, edited_output="Dear Customer 60, welcome!", seconds=9
    )
    last = _jsonl(wording_experiment)[-1]
    assert last["messages"][2]["content"] == "Dear Customer 60, welcome!"
    assert "Variant" not in last["messages"][0]["content"]  # the control's own prompt (v1)


def test_an_untouched_approval_exports_the_models_own_text(wording_experiment, customers, alice):
    """The browser sends the answer back with CRLF endings and no trailing newline: the export keeps the original."""
    winner_batch(wording_experiment, customers)
    original = "Hello Customer 60,\n\nwelcome aboard.\nThe team\n"
    BatchItem.objects.filter(variant__key="control", case__position=60).update(output=original)
    item = BatchItem.objects.get(variant__key="control", case__position=60)
    review_submit(result=item, reviewer=alice, approved=True, seconds=5,
                  edited_output=original.replace("\n", "\r\n").rstrip())  # fmt: skip
    assert _jsonl(wording_experiment)[-1]["messages"][2]["content"] == original


def test_a_real_edit_is_exported_in_place_of_the_answer(wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    item = BatchItem.objects.get(variant__key="control", case__position=60)
    review_submit(result=item, reviewer=alice, approved=True, seconds=5, edited_output="Dear Customer 60,\r\nwelcome!")
    assert _jsonl(wording_experiment)[-1]["messages"][2]["content"] == "Dear Customer 60,\nwelcome!"
