"""Can the AI grader be trusted? Its agreement with reviewers, its own consistency, and what success costs.

Calibration (per AI-grader scorer of the experiment), over the counted calls (promptlib.analysis.aggregates)
that have both a reviewer's decision (a call's first Review: approved or rejected) and a verdict from the
grader (its score has passed true/false; a reply that could not be read is no verdict):
  - agreement: the share of those answers where grader and reviewers said the same;
  - Cohen's kappa with its 95% interval (promptlib.stats.agreement): agreement beyond chance;
  - the confusion table, in words ("the grader passed 9 answers the reviewers rejected");
  - flagged when kappa is below the project's bar (Project.judge_kappa_min, 0.6 by default) or cannot
    be computed yet (fewer than MIN_PAIRS such answers, or one side gave a single verdict throughout).
When the experiment's success rests on a flagged grader (it counts toward task success and task success
is the primary metric or a guardrail), `trust_note` says so; the report adds it to the verdict.
Consistency (with repeats): among answers with the very same text judged more than once, the share the
grader judged the same way every time, over the latest CONSISTENCY_CALLS judged calls.

The "Calibrate" action (`calibration_sample_send`) sends a random sample of judged, unreviewed answers
to the review queue (BatchItem.review_requested; promptlib.batches.reviews.review_queue).

Costs (`variant_costs`): cost per successful answer per variant and its three parts — model calls
(retries and failed calls included), grader calls and review time — from the metrics' one formula
(promptlib.experiments.metrics), with the calls whose grader could not be read.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from promptlib.analysis import aggregates as agg
from promptlib.analysis.results import VariantInfo
from promptlib.batches.models import Batch, BatchItem, Review, ScorerConfig
from promptlib.batches.sums import call_sums, review_sums, variant_aggregates
from promptlib.core.errors import DomainError
from promptlib.experiments.metrics import metrics_from_aggregates
from promptlib.experiments.models import Experiment
from promptlib.stats import Kappa, StatsInputError, cohens_kappa

JUDGE_KIND = "llm_judge"
MIN_PAIRS = 10  # fewer answers both judged and reviewed: no kappa worth showing
CALIBRATION_SAMPLE = 20
CONSISTENCY_CALLS = 5_000  # the page is rebuilt every few seconds: a bounded read
SUCCESS_METRIC = "task_success_rate"


class CalibrationError(DomainError):
    pass


@dataclass(frozen=True)
class Confusion:
    both_pass: int  # grader passed, reviewers approved
    judge_only_pass: int  # grader passed, reviewers rejected
    judge_only_fail: int  # grader failed, reviewers approved
    both_fail: int

    @property
    def n(self) -> int:
        return self.both_pass + self.judge_only_pass + self.judge_only_fail + self.both_fail

    def table(self) -> list[list[int]]:
        """Rows: the grader (pass, fail); columns: the reviewers (approved, rejected)."""
        return [[self.both_pass, self.judge_only_pass], [self.judge_only_fail, self.both_fail]]

    def sentences(self) -> list[str]:
        def answers(n: int) -> str:
            return f"{n} answer{'' if n == 1 else 's'}"

        return [
            f"The grader passed {answers(self.both_pass)} the reviewers approved.",
            f"The grader passed {answers(self.judge_only_pass)} the reviewers rejected.",
            f"The grader failed {answers(self.judge_only_fail)} the reviewers approved.",
            f"The grader failed {answers(self.both_fail)} the reviewers rejected.",
        ]


@dataclass(frozen=True)
class Consistency:
    groups: int  # identical answer texts the grader judged at least twice
    consistent: int  # of which it judged the same way every time

    @property
    def share(self) -> float | None:
        return self.consistent / self.groups if self.groups else None


@dataclass(frozen=True)
class JudgeCalibration:
    name: str
    counts_for_success: bool
    confusion: Confusion
    kappa: Kappa | None
    threshold: float
    consistency: Consistency | None
    unread: int  # reviewed answers whose grader reply could not be read (left out of the table)

    @property
    def agreement(self) -> float | None:
        n = self.confusion.n
        return (self.confusion.both_pass + self.confusion.both_fail) / n if n else None

    @property
    def flagged(self) -> bool:
        return self.kappa is None or self.kappa.kappa < self.threshold

    @property
    def status(self) -> str:
        n = self.confusion.n
        if n < MIN_PAIRS:
            return (
                f"Not calibrated yet: {n} of the {MIN_PAIRS} answers needed have both the grader's verdict and a "
                "reviewer's decision. Use Calibrate to send some to the review queue."
            )
        if self.kappa is None:
            return (
                "Not calibrated: the grader or the reviewers gave the same verdict to every answer, so agreement "
                "beyond chance cannot be measured. Review a more varied sample."
            )
        k = self.kappa
        words = f"agreement beyond chance (Cohen's kappa) {k.kappa:.2f}, likely between {k.low:.2f} and {k.high:.2f}"
        if self.flagged:
            return f"Not trusted: {words} — below the {self.threshold:.2f} this project asks for."
        return f"Agrees with the reviewers: {words} (the project asks for {self.threshold:.2f})."


@dataclass(frozen=True)
class VariantCost:
    variant: str
    successes: int
    total: float | None  # cost per successful answer
    model: float | None
    judge: float | None
    review: float | None
    judge_unread: int


@dataclass(frozen=True)
class Calibration:
    judges: list[JudgeCalibration]
    costs: list[VariantCost]
    reviewer_hourly_usd: float
    has_reviews: bool
    awaiting: int  # answers sent to the review queue by Calibrate, not reviewed yet
    success_rests_on_judge: bool
    first_awaiting_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate_missing(self) -> bool:
        """Reviews exist but cost nothing yet: the page asks for the reviewer rate."""
        return self.has_reviews and not self.reviewer_hourly_usd

    @property
    def trust_note(self) -> str:
        """What the verdict must say when success rests on a grader that is not calibrated; else ""."""
        if not self.success_rests_on_judge:
            return ""
        flagged = [j.name for j in self.judges if j.counts_for_success and j.flagged]
        if not flagged:
            return ""
        names = ", ".join(flagged)
        return (
            f"Task success rests on an AI grader that is not calibrated ({names}): it has not been shown to agree "
            "with your reviewers, so treat this verdict with care."
        )

    @property
    def any_unread(self) -> bool:
        return any(c.judge_unread for c in self.costs)


def _judge_verdicts(scores) -> dict[str, bool | None]:
    """{judge metric: passed} from a call's stored scores; None where the reply could not be read."""
    if not isinstance(scores, list):
        return {}
    return {s.get("metric"): s.get("passed") for s in scores if isinstance(s, dict) and "metric" in s}


def _first_decisions(experiment_id: int) -> dict[int, bool]:
    """{call id: the first reviewer's decision} over the counted calls."""
    rows = (
        Review.objects.filter(result__in=agg.counted_items(experiment_id=experiment_id))
        .order_by("created_at", "id")
        .values_list("result_id", "approved")
    )
    first: dict[int, bool] = {}
    for result_id, approved in rows:
        first.setdefault(result_id, approved)
    return first


def _consistency(experiment_id: int, names: list[str]) -> dict[str, Consistency]:
    batch_ids = agg.counted_batch_ids(experiment_id=experiment_id)
    if not Batch.objects.filter(pk__in=batch_ids, repeats__gt=1).exists():
        return {}
    rows = (
        agg.counted_items(experiment_id=experiment_id)
        .filter(status=BatchItem.Status.DONE)
        .order_by("-id")
        .values_list("output", "scores")[:CONSISTENCY_CALLS]
    )
    seen: dict[tuple[str, str], set[bool]] = defaultdict(set)
    count: dict[tuple[str, str], int] = defaultdict(int)
    for output, scores in rows:
        for name, passed in _judge_verdicts(scores).items():
            if name in names and passed is not None:
                seen[(name, output)].add(bool(passed))
                count[(name, output)] += 1
    result = {}
    for name in names:
        groups = [key for key in seen if key[0] == name and count[key] >= 2]
        result[name] = Consistency(len(groups), sum(len(seen[key]) == 1 for key in groups))
    return result


def _calibrations(experiment: Experiment, judges: list[ScorerConfig], threshold: float) -> list[JudgeCalibration]:
    decisions = _first_decisions(experiment.pk)
    names = [j.name for j in judges]
    tallies = {name: [0, 0, 0, 0] for name in names}
    unread = dict.fromkeys(names, 0)
    rows = BatchItem.objects.filter(pk__in=list(decisions)).values_list("pk", "scores")
    for pk, scores in rows.iterator():
        approved = decisions[pk]
        for name, passed in _judge_verdicts(scores).items():
            if name not in tallies:
                continue
            if passed is None:
                unread[name] += 1
                continue
            tallies[name][(0 if passed else 2) + (0 if approved else 1)] += 1
    consistency = _consistency(experiment.pk, names)
    out = []
    for judge in judges:
        confusion = Confusion(*tallies[judge.name])
        kappa = None
        if confusion.n >= MIN_PAIRS:
            try:
                kappa = cohens_kappa(confusion.table())
            except StatsInputError:
                kappa = None
        out.append(
            JudgeCalibration(
                judge.name,
                judge.counts_for_success,
                confusion,
                kappa,
                threshold,
                consistency.get(judge.name),
                unread[judge.name],
            )  # fmt: skip
        )
    return out


def variant_costs(*, experiment: Experiment, variants: list[VariantInfo]) -> list[VariantCost]:
    """Cost per successful answer and its parts per variant, from the metrics' one formula."""
    batch_ids = agg.counted_batch_ids(experiment_id=experiment.pk)
    sources = agg.batch_sources(experiment_id=experiment.pk)
    aggregates = variant_aggregates(
        sums=call_sums(sources=sources),
        percentiles={},
        reviews=review_sums(batch_ids=batch_ids),
        reviewer_hourly_usd=float(experiment.project.reviewer_hourly_usd),
    )
    costs = []
    for v in variants:
        if v.id not in aggregates:
            continue
        m = metrics_from_aggregates(aggregates[v.id])
        costs.append(
            VariantCost(
                v.key,
                m["successes"],
                m["cost_per_success_usd"],
                m["cost_model_usd"],
                m["cost_judge_usd"],
                m["cost_review_usd"],
                m["judge_unread"],
            )  # fmt: skip
        )
    return costs


def experiment_calibration(*, experiment: Experiment, variants: list[VariantInfo]) -> Calibration:
    project = experiment.project
    judges = list(ScorerConfig.objects.filter(experiment=experiment, kind=JUDGE_KIND).order_by("order", "id"))
    counted = agg.counted_items(experiment_id=experiment.pk)
    awaiting = counted.filter(review_requested=True, reviews__isnull=True, status=BatchItem.Status.DONE)
    first_awaiting = awaiting.order_by("id").values_list("pk", flat=True).first()
    rests = experiment.primary_metric == SUCCESS_METRIC or SUCCESS_METRIC in (experiment.guardrail_metrics or [])
    return Calibration(
        judges=_calibrations(experiment, judges, float(project.judge_kappa_min)) if judges else [],
        costs=variant_costs(experiment=experiment, variants=variants),
        reviewer_hourly_usd=float(project.reviewer_hourly_usd),
        has_reviews=Review.objects.filter(result__in=counted).exists(),
        awaiting=awaiting.count(),
        success_rests_on_judge=rests and any(j.counts_for_success for j in judges),
        first_awaiting_id=first_awaiting,
    )


def calibration_sample_send(*, experiment: Experiment, size: int = CALIBRATION_SAMPLE, seed: int | None = None) -> int:
    """Send up to `size` judged, unreviewed answers, drawn at random, to the review queue; how many were sent."""
    names = set(ScorerConfig.objects.filter(experiment=experiment, kind=JUDGE_KIND).values_list("name", flat=True))
    if not names:
        raise CalibrationError("This experiment has no AI grader to calibrate.", field="scorers")
    if size < 1:
        raise CalibrationError("Send at least one answer.", field="size")
    candidates = agg.counted_items(experiment_id=experiment.pk).filter(
        status=BatchItem.Status.DONE, reviews__isnull=True, review_requested=False
    )
    rows = list(candidates.order_by("?").values_list("pk", "scores")[: size * 10])
    judged = [pk for pk, scores in rows if any(v is not None for k, v in _judge_verdicts(scores).items() if k in names)]
    chosen = random.Random(seed).sample(judged, min(size, len(judged)))
    if not chosen:
        raise CalibrationError("No judged answers are waiting for a review: run a batch first.", field="size")
    with transaction.atomic():
        return BatchItem.objects.filter(pk__in=chosen, review_requested=False).update(review_requested=True)
