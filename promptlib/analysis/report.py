"""experiment_report: both sections and the headline verdict, from SQL aggregates.

Headline: production outcomes are what users actually experienced, so they decide once every
variant has the planned number of users; until then the offline batches decide. Both sections, with
their own verdicts, are always returned; `verdict_source` and `explanation` say which one decides.
"""

from __future__ import annotations

from dataclasses import replace

from django.core.cache import cache

from promptlib.analysis.calibration import experiment_calibration
from promptlib.analysis.offline import offline_section
from promptlib.analysis.production import production_section
from promptlib.analysis.results import ExperimentReport, Section, VariantInfo
from promptlib.experiments.models import Experiment
from promptlib.stats import VerdictState

# A few seconds: the page polls and reloads, while batches and outcomes keep arriving.
REPORT_CACHE_SECONDS = 5


def experiment_variants(*, experiment: Experiment) -> list[VariantInfo]:
    """Control first, then the challengers by key."""
    rows = experiment.variants.select_related("version").order_by("-is_control", "key")
    return [VariantInfo(v.pk, v.key, v.version_id, v.version.number, v.is_control) for v in rows]


def _headline(offline: Section, production: Section) -> tuple[Section | None, str]:
    """Which section decides, and why in one sentence.

    Production decides only once every variant has the planned number of users (or when it flags a
    sample-ratio mismatch, which makes any verdict untrustworthy): thirty users per variant must not
    replace a clear offline result with an underpowered "no significant difference".
    """
    if production.srm is not None and production.srm.failed and production.has_data:
        return production, "The verdict comes from production: users were not split as planned, so no winner is named."
    if production.has_data and production.planned_reached and production.verdict.state != VerdictState.COLLECTING_DATA:
        return production, (
            f"The verdict comes from production outcomes: every variant has reached the planned "
            f"{production.planned_n:,} users, and they measure what real users experienced."
        )
    if offline.has_data:
        if not production.has_data:
            why = "there are no production outcomes yet"
        elif production.planned_n:
            why = (
                f"production has {min(production.sample_sizes.values(), default=0):,} of the planned "
                f"{production.planned_n:,} users per variant"
            )
        else:
            why = "production has no planned number of users yet (set the minimum effect)"
        return offline, f"The verdict comes from the offline batches, because {why}."
    if production.has_data:
        return production, "The verdict comes from production outcomes; no batch has run yet."
    return None, "Run a batch or report production outcomes to get a verdict."


def experiment_report(*, experiment: Experiment, rollups: bool = True) -> ExperimentReport:
    """rollups=False computes the offline section from every batch item (slower; the same numbers)."""
    variants = experiment_variants(experiment=experiment)
    offline = offline_section(experiment=experiment, variants=variants, rollups=rollups)
    production = production_section(experiment=experiment, variants=variants)
    source, explanation = _headline(offline, production)
    verdict = source.verdict if source else offline.verdict
    calibration = experiment_calibration(experiment=experiment, variants=variants)
    if calibration.trust_note and (source is None or source.kind == "offline") and offline.has_data:
        # Offline success comes from the scorers: say when it rests on a grader nobody has checked.
        verdict = replace(verdict, reason=f"{verdict.reason} {calibration.trust_note}")
    winner = next((v for v in variants if v.key == verdict.winner), None)
    return ExperimentReport(
        experiment_id=experiment.pk,
        primary_metric=experiment.primary_metric,
        variants=variants,
        verdict=verdict,
        verdict_source=source.kind if source else "",
        explanation=explanation,
        offline=offline,
        production=production,
        winner=winner if verdict.state == VerdictState.WINNER else None,
        calibration=calibration,
    )


def _cache_key(experiment_id: int) -> str:
    return f"promptlib:report:v3:{experiment_id}"  # v3: the report gained the graders' calibration and costs


def experiment_report_cached(*, experiment: Experiment) -> ExperimentReport:
    key = _cache_key(experiment.pk)
    report = cache.get(key)
    if report is None:
        report = experiment_report(experiment=experiment)
        cache.set(key, report, REPORT_CACHE_SECONDS)
    return report


def experiment_report_invalidate(*, experiment_id: int) -> None:
    cache.delete(_cache_key(experiment_id))
