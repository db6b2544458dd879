"""Promote an experiment's winner: production label → the winning version, experiment finished.

Refused when the report has no winner, unless the publisher confirms an override with a reason;
the label history then says plainly that it was an override and why. The experiment's schedules
stop with it: a promoted experiment has nothing left to test.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from promptlib.analysis.report import experiment_report, experiment_report_invalidate
from promptlib.batches.schedules import batch_schedules_stop
from promptlib.core.errors import DomainError
from promptlib.core.models import Role
from promptlib.core.permissions import require_role
from promptlib.experiments.models import Experiment, Variant
from promptlib.experiments.services import ExperimentError, experiment_finish
from promptlib.prompts.models import Label
from promptlib.prompts.services import label_move

PRODUCTION = "production"


class PromotionError(DomainError):
    pass


@dataclass(frozen=True)
class Promotion:
    label: Label
    variant: Variant
    override: bool
    note: str


def _chosen_variant(*, experiment: Experiment, report, override: bool, variant_key: str) -> tuple[Variant, bool]:
    """(the variant to promote, whether that is an override of the verdict)."""
    variants = experiment.variants.select_related("version")
    if report.winner is not None and variant_key in ("", report.winner.key):
        return variants.get(pk=report.winner.id), False
    if not override:
        because = report.verdict.reason if report.winner is None else f"the winner is '{report.winner.key}'."
        raise PromotionError(
            f"Not promoted: {because} Confirm an override with a reason to promote this variant anyway.",
            field="override",
            code="no_winner",
        )
    variant = variants.filter(key=variant_key or report.verdict.variant or "").first()
    if variant is None:
        raise PromotionError("Choose the variant to promote.", field="variant")
    return variant, True


def promotion_blocker(*, experiment: Experiment, report) -> str | None:
    """Why the promote button is disabled, in words; None when a publisher may promote (or override)."""
    if experiment.status == Experiment.Status.DRAFT:
        return "This experiment has not started yet: start it and run a batch, then promote the winner."
    production = Label.objects.filter(template_id=experiment.template_id, name=PRODUCTION).select_related("version")
    production = production.first()
    if experiment.status == Experiment.Status.FINISHED:
        where = f" “{PRODUCTION}” points at version {production.version.number}." if production else ""
        return "Already done: this experiment has finished." + where
    if production and report.winner is not None and production.version_id == report.winner.version_id:
        return f"Already promoted: “{PRODUCTION}” points at version {production.version.number}, the winner."
    return None


def experiment_promote_winner(
    *, experiment: Experiment, actor, override: bool = False, reason: str = "", variant_key: str = ""
) -> Promotion:
    """Move the template's production label to the winner's version and finish the experiment."""
    require_role(user=actor, project_id=experiment.project_id, role=Role.PUBLISHER, action="promote a winner")
    reason = (reason or "").strip()
    if override and not reason:
        raise PromotionError("An override needs a reason, recorded in the label history.", field="reason")
    if experiment.status == Experiment.Status.DRAFT:
        raise PromotionError("This experiment has not started; there is nothing to promote.", field="status")
    if experiment.status == Experiment.Status.FINISHED:
        raise PromotionError(
            "This experiment has finished; start a new one to test again.", field="status", code="finished"
        )
    report = experiment_report(experiment=experiment)
    variant, overridden = _chosen_variant(
        experiment=experiment, report=report, override=override, variant_key=variant_key
    )
    version = variant.version
    if overridden:
        note = (
            f"OVERRIDE: promoted variant '{variant.key}' (v{version.number}) of experiment '{experiment.name}' "
            f"against the verdict ({report.verdict.state}: {report.verdict.reason}) Reason: {reason}"
        )
    else:
        note = (
            f"Winner of experiment '{experiment.name}': variant '{variant.key}' (v{version.number}). "
            f"{report.verdict.reason}"
        )
    with transaction.atomic():
        label = label_move(
            template=experiment.template, name=PRODUCTION, version=version, actor=actor, via="promotion", note=note
        )
        try:
            experiment_finish(experiment=experiment)
        except ExperimentError as exc:  # e.g. finished meanwhile by someone else: nothing is written
            raise PromotionError(exc.message, field="status") from exc
        batch_schedules_stop(experiment=experiment)
    transaction.on_commit(lambda: experiment_report_invalidate(experiment_id=experiment.pk))
    return Promotion(label=label, variant=variant, override=overridden, note=note)
