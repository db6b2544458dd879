"""outcomes_record keeps the per-user and per-day sums the production report reads."""

from django.utils import timezone

from promptlib.experiments.models import OutcomeDaySum, OutcomeSubjectSum
from promptlib.experiments.outcomes import outcome_sums_rebuild, outcomes_record


def _event(experiment, subject, value, event_id, metric="converted"):
    return {"experiment": experiment.pk, "variant": _variant_of(experiment, subject), "subject": subject,
            "metric": metric, "value": value, "event_id": event_id}  # fmt: skip


def _variant_of(experiment, subject):
    from promptlib.experiments.assignment import variant_pick

    weights = [(v.key, v.weight) for v in experiment.variants.all()]
    return variant_pick(salt=experiment.salt, subject=subject, weights=weights)


def _sums(experiment):
    subjects = sorted(
        OutcomeSubjectSum.objects.filter(experiment=experiment).values_list(
            "variant__key", "metric", "subject", "events", "total", "booleans"
        )
    )
    days = sorted(
        OutcomeDaySum.objects.filter(experiment=experiment).values_list(
            "variant__key", "metric", "day", "events", "total"
        )
    )
    return subjects, days


def test_stored_events_are_added_per_user_and_duplicates_are_not(welcome_experiment, acme):
    e = welcome_experiment
    first = [_event(e, "ann", True, "1"), _event(e, "ann", False, "2"), _event(e, "bo", True, "3"),
             _event(e, "ann", 12.5, "4", metric="basket")]  # fmt: skip
    outcomes_record(project_id=acme.pk, events=list(enumerate(first)))
    report = outcomes_record(
        project_id=acme.pk, events=list(enumerate([_event(e, "ann", True, "2"), _event(e, "ann", True, "5")]))
    )
    assert (report.stored, report.duplicates) == (1, 1)
    subjects, days = _sums(e)
    ann = next(row for row in subjects if row[1:3] == ("converted", "ann"))
    assert ann[3:] == (3, 2.0, 3)  # True, False, True: the retried "2" is not counted again
    assert sum(row[3] for row in days) == 5 and days[0][2] == timezone.now().date()
    incremental = _sums(e)
    outcome_sums_rebuild(experiment_id=e.pk)
    assert _sums(e) == incremental
