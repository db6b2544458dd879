"""The experiment page's "Can the AI grader be trusted?" card: what it shows, and its Calibrate button.

Numbers come from promptlib.analysis.calibration (carried on the cached report); this module only words
them and sends the Calibrate action to its service.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from promptlib.admin.base import scope_queryset, user_may
from promptlib.admin.display import metric_value_text
from promptlib.analysis.calibration import CALIBRATION_SAMPLE, Calibration, CalibrationError, calibration_sample_send
from promptlib.analysis.report import experiment_report_invalidate
from promptlib.core.models import Role
from promptlib.experiments.models import Experiment


def _usd(value: float | None) -> str:
    return metric_value_text(value, is_rate=False, unit="USD")


def _share(value: float | None) -> str:
    return metric_value_text(value, is_rate=True, unit="share")


def present_calibration(calibration: Calibration | None) -> dict | None:
    """What the card shows, in words and formatted numbers; None when there is nothing to show."""
    if calibration is None:
        return None
    judges = [
        {
            "name": j.name,
            "flagged": j.flagged,
            "status": j.status,
            "n": j.confusion.n,
            "agreement": _share(j.agreement),
            "kappa": "—" if j.kappa is None else f"{j.kappa.kappa:.2f}",
            "interval": "—" if j.kappa is None else f"{j.kappa.low:.2f} to {j.kappa.high:.2f}",
            "table": j.confusion.table(),
            "sentences": j.confusion.sentences(),
            "unread": j.unread,
            "consistency": None
            if j.consistency is None or not j.consistency.groups
            else (
                f"Judged {j.consistency.consistent} of {j.consistency.groups} repeated identical answers the same "
                f"way every time ({_share(j.consistency.share)})."
            ),
        }
        for j in calibration.judges
    ]
    costs = [
        {
            "variant": c.variant,
            "total": _usd(c.total),
            "model": _usd(c.model),
            "judge": _usd(c.judge),
            "review": _usd(c.review),
            "successes": c.successes,
            "unread": c.judge_unread,
        }
        for c in calibration.costs
    ]
    return {
        "judges": judges,
        "costs": costs,
        "has_judges": bool(judges),
        "rate": f"${calibration.reviewer_hourly_usd:,.2f}",
        "rate_missing": calibration.rate_missing,
        "awaiting": calibration.awaiting,
        "first_awaiting_id": calibration.first_awaiting_id,
        "trust_note": calibration.trust_note,
        "sample_size": CALIBRATION_SAMPLE,
        "any_unread": calibration.any_unread,
    }


def calibrate_view(request, pk: int):
    """POST: send a sample of judged, unreviewed answers to the review queue (editors and up)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    experiment = get_object_or_404(scope_queryset(Experiment.objects.select_related("project"), request), pk=pk)
    if not user_may(request, Role.EDITOR, experiment.project_id):
        raise PermissionDenied
    try:
        sent = calibration_sample_send(experiment=experiment)
    except CalibrationError as exc:
        messages.error(request, exc.message)
    else:
        experiment_report_invalidate(experiment_id=experiment.pk)
        messages.success(
            request,
            f"{sent} answer{'' if sent == 1 else 's'} judged by the AI grader "
            f"{'was' if sent == 1 else 'were'} sent to the review queue. Once reviewed, the grader's agreement "
            "with your reviewers shows here.",
        )
    return HttpResponseRedirect(reverse("promptlib_experiment_dashboard", args=[experiment.pk]) + "#calibration")
