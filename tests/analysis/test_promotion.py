"""experiment_promote_winner: label moves to the winner, experiment finishes, history records it."""

import pytest

from promptlib.analysis.promotion import PromotionError, experiment_promote_winner
from promptlib.core.permissions import PermissionDenied
from promptlib.experiments.models import Experiment
from promptlib.prompts.models import Label, LabelEvent
from tests.analysis_support import add_batch, winner_batch


def _production(template):
    return Label.objects.get(template=template, name="production").version.number


def test_it_moves_production_to_the_winners_version(wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    experiment_promote_winner(experiment=wording_experiment, actor=alice)
    assert _production(wording_experiment.template) == 2


def test_it_finishes_the_experiment(wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    experiment_promote_winner(experiment=wording_experiment, actor=alice)
    assert Experiment.objects.get(pk=wording_experiment.pk).status == Experiment.Status.FINISHED


def test_it_records_the_promotion_in_the_label_history(wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    experiment_promote_winner(experiment=wording_experiment, actor=alice)
    event = LabelEvent.objects.filter(template=wording_experiment.template, via="promotion").get()
    assert (event.actor, event.to_version.number) == (alice, 2)
    assert event.note.startswith("Winner of experiment 'Welcome wording'")


def test_it_refuses_without_a_winner(wording_experiment, customers, alice):
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 30, "b": lambda i: i < 31})
    with pytest.raises(PromotionError, match="No clear difference yet"):
        experiment_promote_winner(experiment=wording_experiment, actor=alice)
    assert _production(wording_experiment.template) == 1
    assert Experiment.objects.get(pk=wording_experiment.pk).status == Experiment.Status.RUNNING


def test_it_records_a_confirmed_override_as_such(wording_experiment, customers, alice):
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 30, "b": lambda i: i < 31})
    promotion = experiment_promote_winner(
        experiment=wording_experiment, actor=alice, override=True, reason="Brand asked for it", variant_key="b"
    )
    event = LabelEvent.objects.get(template=wording_experiment.template, via="promotion")
    assert promotion.override
    assert event.note.startswith("OVERRIDE:")
    assert "Reason: Brand asked for it" in event.note
    assert _production(wording_experiment.template) == 2


def test_it_refuses_an_override_without_a_reason(wording_experiment, customers, alice):
    add_batch(wording_experiment, customers, passes={"control": lambda i: i < 30, "b": lambda i: i < 31})
    with pytest.raises(PromotionError) as error:
        experiment_promote_winner(experiment=wording_experiment, actor=alice, override=True, variant_key="b")
    assert error.value.field == "reason"


def test_it_refuses_an_editor(wording_experiment, customers, bob):
    winner_batch(wording_experiment, customers)
    with pytest.raises(PermissionDenied):
        experiment_promote_winner(experiment=wording_experiment, actor=bob)
    assert _production(wording_experiment.template) == 1


def test_it_stops_the_experiments_schedules(wording_experiment, customers, alice):
    from promptlib.batches.schedules import ScheduleTiming, batch_schedule_create, batch_schedule_state
    from promptlib.batches.services import BatchSettings
    from promptlib.providers.models import ProviderConfig

    winner_batch(wording_experiment, customers)
    demo = ProviderConfig.objects.create(project=wording_experiment.project, name="demo", kind="demo")
    settings = BatchSettings(experiment=wording_experiment, dataset=customers, provider=demo)
    schedule = batch_schedule_create(name="nightly", settings=settings, timing=ScheduleTiming())
    experiment_promote_winner(experiment=wording_experiment, actor=alice)
    schedule.refresh_from_db()
    assert batch_schedule_state(schedule=schedule).text == "Stopped: the experiment has finished"


def test_it_refuses_a_second_promotion(wording_experiment, customers, alice):
    winner_batch(wording_experiment, customers)
    experiment_promote_winner(experiment=wording_experiment, actor=alice)
    with pytest.raises(PromotionError) as caught:
        experiment_promote_winner(experiment=Experiment.objects.get(pk=wording_experiment.pk), actor=alice)
    assert caught.value.code == "finished"
    assert LabelEvent.objects.filter(via="promotion").count() == 1
