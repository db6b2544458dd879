import pytest
from django.core.cache import cache

from promptlib.core.caching import template_key
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import (
    ExperimentError,
    VariantSpec,
    experiment_create,
    experiment_finish,
    experiment_pause,
    experiment_start,
    experiment_status_set,
    experiment_update,
    experiment_variants_set,
)
from promptlib.prompts.services import template_create, version_create


def _variants(template, v2, *, control_weight=1, other_weight=1):
    return [
        VariantSpec(key="control", version=template.versions.get(number=1), weight=control_weight, is_control=True),
        VariantSpec(key="short", version=v2, weight=other_weight),
    ]


def _draft(welcome, welcome_v2, **kwargs):
    return experiment_create(template=welcome, name="Test", variants=_variants(welcome, welcome_v2), **kwargs)


def test_it_creates_a_draft_with_its_variants(welcome, welcome_v2):
    experiment = _draft(welcome, welcome_v2)
    assert experiment.status == Experiment.Status.DRAFT
    assert experiment.project_id == welcome.project_id
    assert sorted(experiment.variants.values_list("key", flat=True)) == ["control", "short"]


def test_the_salt_is_fixed_at_creation(welcome, welcome_v2):
    experiment = _draft(welcome, welcome_v2)
    experiment_start(experiment=experiment)
    assert Experiment.objects.get(pk=experiment.pk).salt == experiment.salt
    assert len(experiment.salt) >= 16


def test_it_refuses_a_version_of_another_template(acme, welcome, welcome_v2, welcome_content):
    other = template_create(project=acme, slug="other", title="Other")
    foreign, _ = version_create(template=other, content=welcome_content)
    variants = [_variants(welcome, welcome_v2)[0], VariantSpec(key="b", version=foreign, weight=1)]
    with pytest.raises(ExperimentError, match="not a version of template 'welcome-email'") as exc:
        experiment_create(template=welcome, name="x", variants=variants)
    assert exc.value.field == "variants.version"
    assert not Experiment.objects.exists()


def test_it_refuses_two_controls(welcome, welcome_v2):
    variants = [VariantSpec(key=k, version=welcome_v2, weight=1, is_control=True) for k in ("a", "b")]
    with pytest.raises(ExperimentError, match="Exactly one variant must be the control"):
        experiment_create(template=welcome, name="x", variants=variants)


def test_it_refuses_a_zero_weight(welcome, welcome_v2):
    with pytest.raises(ExperimentError, match="weight must be a positive"):
        experiment_create(template=welcome, name="x", variants=_variants(welcome, welcome_v2, other_weight=0))


def test_it_refuses_a_single_variant(welcome, welcome_v2):
    with pytest.raises(ExperimentError, match="at least two variants"):
        experiment_create(template=welcome, name="x", variants=_variants(welcome, welcome_v2)[:1])


def test_it_refuses_duplicate_variant_keys(welcome, welcome_v2):
    variants = _variants(welcome, welcome_v2)
    variants[1] = VariantSpec(key="control", version=welcome_v2, weight=1)
    with pytest.raises(ExperimentError, match="share the key"):
        experiment_create(template=welcome, name="x", variants=variants)


def test_it_refuses_a_guardrail_equal_to_the_primary_metric(welcome, welcome_v2):
    with pytest.raises(ExperimentError, match="cannot also be a guardrail"):
        _draft(welcome, welcome_v2, primary_metric="converted", guardrail_metrics=["converted"])


def test_start_pause_resume_finish_follow_the_state_machine(welcome, welcome_v2):
    experiment = _draft(welcome, welcome_v2)
    experiment_start(experiment=experiment)
    assert experiment.status == "running" and experiment.started_at is not None
    experiment_pause(experiment=experiment)
    assert Experiment.objects.get(pk=experiment.pk).status == "paused"
    experiment_start(experiment=experiment)
    experiment_finish(experiment=experiment)
    stored = Experiment.objects.get(pk=experiment.pk)
    assert stored.status == "finished" and stored.finished_at is not None


def test_status_set_runs_the_transition_for_the_status_asked_for(welcome, welcome_v2):
    experiment = _draft(welcome, welcome_v2)
    experiment_status_set(experiment=experiment, status="running")
    assert Experiment.objects.get(pk=experiment.pk).status == "running"
    experiment_status_set(experiment=experiment, status="finished")
    assert Experiment.objects.get(pk=experiment.pk).status == "finished"


def test_status_set_refuses_an_unknown_status(welcome, welcome_v2):
    with pytest.raises(ExperimentError, match="Unknown status 'draft'") as refused:
        experiment_status_set(experiment=_draft(welcome, welcome_v2), status="draft")
    assert refused.value.field == "status"


def test_it_refuses_to_pause_a_draft(welcome, welcome_v2):
    with pytest.raises(ExperimentError, match="it is draft, and only a running experiment can be paused"):
        experiment_pause(experiment=_draft(welcome, welcome_v2))


def test_it_refuses_to_restart_a_finished_experiment(welcome_experiment):
    experiment_finish(experiment=welcome_experiment)
    with pytest.raises(ExperimentError, match="only a draft or paused experiment can be started"):
        experiment_start(experiment=welcome_experiment)


def test_it_refuses_a_second_running_experiment_on_a_template(welcome, welcome_v2, welcome_experiment):
    second = _draft(welcome, welcome_v2)
    with pytest.raises(ExperimentError, match="already has a running experiment") as exc:
        experiment_start(experiment=second)
    assert exc.value.code == "already_running"
    assert Experiment.objects.get(pk=second.pk).status == "draft"


def test_it_refuses_to_change_weights_after_the_start(welcome, welcome_v2, welcome_experiment):
    with pytest.raises(ExperimentError, match="Create a new experiment instead"):
        experiment_variants_set(experiment=welcome_experiment, variants=_variants(welcome, welcome_v2, other_weight=3))
    assert sorted(welcome_experiment.variants.values_list("weight", flat=True)) == [1, 1]


def test_a_draft_may_change_its_weights(welcome, welcome_v2):
    experiment = _draft(welcome, welcome_v2)
    experiment_variants_set(experiment=experiment, variants=_variants(welcome, welcome_v2, other_weight=3))
    assert experiment.variants.get(key="short").weight == 3


def test_it_refuses_to_change_metrics_after_the_start(welcome_experiment):
    with pytest.raises(ExperimentError, match="Metrics cannot change"):
        experiment_update(experiment=welcome_experiment, name="Renamed", primary_metric="clicked")


def test_a_running_experiment_may_be_renamed(welcome_experiment):
    assert experiment_update(experiment=welcome_experiment, name="Renamed").name == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_starting_an_experiment_drops_the_template_cache(welcome, welcome_v2):
    experiment = _draft(welcome, welcome_v2)
    key = template_key(project_id=welcome.project_id, slug=welcome.slug)
    cache.set(key, {"stale": True})
    experiment_start(experiment=experiment)
    assert cache.get(key) is None
