"""Downloads from an experiment: every result as CSV, and chosen outputs as fine-tuning JSONL.

Both are generators of text lines, so a view streams them and a million results never sit in memory.
JSONL follows OpenAI's chat fine-tuning format, one {"messages": [system, user, assistant]} per case:
the prompt that variant's version renders from the case's input (few-shot examples left out — the
fine-tuned model learns from the data itself), and as the answer the reviewed output where a person
approved one (their edit, if they edited it), else the winner's successful output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from promptlib.analysis.aggregates import COUNTED_BATCHES
from promptlib.batches.models import BatchItem, DatasetCase, Review
from promptlib.batches.reviews import review_output
from promptlib.batches.selectors import item_passages
from promptlib.core.csv import csv_line
from promptlib.experiments.models import Experiment
from promptlib.prompts.rendering import PromptError, render

CSV_COLUMNS = [
    "batch", "case", "variant", "version", "repeat", "status", "success", "schema_passed", "attempts",
    "latency_ms", "cost_usd", "judge_cost_usd", "input_tokens", "output_tokens", "model", "scores", "output", "error",
    "retrieved", "retrieval_ms", "context_expected", "context_found", "citations_made", "citations_valid", "faithful",
]  # fmt: skip
CHUNK = 2000


def results_csv(*, experiment: Experiment) -> Iterator[str]:
    """One row per call of the experiment's batches, in batch and case order."""
    yield csv_line(CSV_COLUMNS)
    items = (
        BatchItem.objects.filter(batch__experiment=experiment)
        .order_by("batch_id", "case__position", "variant__key", "repeat")
        .values_list(
            "batch_id",
            "case__position",
            "variant__key",
            "variant__version__number",
            "repeat",
            "status",
            "success",
            "schema_passed",
            "attempts",
            "latency_ms",
            "cost_usd",
            "judge_cost_usd",
            "input_tokens",
            "output_tokens",
            "model",
            "scores",
            "output",
            "error",
            "retrieved",
            "retrieval_ms",
            "context_expected",
            "context_found",
            "citations_made",
            "citations_valid",
            "faithful",
        )  # fmt: skip
    )
    for row in items.iterator(chunk_size=CHUNK):
        values = list(row)
        values[15] = json.dumps(values[15], ensure_ascii=False) if values[15] else ""
        # The passages given, as "id source" separated by "; " (empty: no knowledge base).
        values[18] = "; ".join(f"{p['id']} {p['source']}" for p in values[18] or [])
        yield csv_line(values)


def _chosen(*, experiment: Experiment, winner_id: int | None) -> dict[int, BatchItem]:
    """The chosen item per case: the latest approved review first, else the winner's success."""
    chosen: dict[int, BatchItem] = {}
    approved = (
        Review.objects.filter(result__batch__experiment=experiment, approved=True)
        .select_related("result")
        .order_by("created_at")
    )
    for review in approved:
        item = review.result
        item.chosen_output = review_output(review=review)  # the model's own text unless really edited
        chosen[item.case_id] = item  # the latest approval wins
    if winner_id is not None:
        winners = BatchItem.objects.filter(
            batch__experiment=experiment,
            batch__status__in=COUNTED_BATCHES,
            variant_id=winner_id,
            status=BatchItem.Status.DONE,
            success=True,
        ).order_by("case_id", "-finished_at")
        for item in winners.iterator(chunk_size=CHUNK):
            if item.case_id not in chosen:
                item.chosen_output = item.output
                chosen[item.case_id] = item
    return chosen


def finetune_jsonl(*, experiment: Experiment, winner_id: int | None) -> Iterator[str]:
    """One JSON line per case with a chosen output; cases whose prompt no longer renders are left out."""
    chosen = _chosen(experiment=experiment, winner_id=winner_id)
    variants = {v.pk: v for v in experiment.variants.select_related("version")}

    cases = DatasetCase.objects.in_bulk(list(chosen))
    for case_id in sorted(chosen, key=lambda cid: cases[cid].position if cid in cases else 0):
        item, case = chosen[case_id], cases.get(case_id)
        variant = variants.get(item.variant_id)
        if case is None or variant is None or not item.chosen_output:
            continue
        try:  # the prompt as the model saw it: with the passages its call was given
            rendered = render(variant.version, case.input, knowledge=item_passages(retrieved=item.retrieved))
        except PromptError:
            continue
        system = next((m for m in rendered.messages if m["role"] == "system"), None)
        user = next((m for m in reversed(rendered.messages) if m["role"] == "user"), None)
        messages = [m for m in (system, user) if m is not None]
        messages.append({"role": "assistant", "content": item.chosen_output})
        yield json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
