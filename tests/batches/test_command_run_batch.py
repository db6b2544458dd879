"""The run_batch management command."""

import pytest
from django.core.management import CommandError, call_command

from promptlib.batches.models import Batch, ScorerConfig

pytestmark = pytest.mark.django_db


def test_it_runs_a_batch_inline_and_prints_each_variant(triage_experiment, tickets, capsys):
    call_command("run_batch", experiment=str(triage_experiment.pk), dataset="tickets", inline=True)
    out = capsys.readouterr().out
    assert "12 calls" in out
    assert "control (v1, control)" in out
    assert Batch.objects.get().status == Batch.Status.FINISHED


def test_it_runs_a_batch_too_big_to_write_at_once_inline(triage_experiment, tickets, settings):
    settings.PROMPTLIB_BATCH_PREPARE_INLINE_ITEMS = 10
    call_command("run_batch", experiment=str(triage_experiment.pk), dataset="tickets", inline=True)
    batch = Batch.objects.get()
    assert batch.status == Batch.Status.FINISHED and batch.items.filter(status="done").count() == 12


def test_it_finds_the_experiment_by_name(triage_experiment, tickets):
    call_command("run_batch", experiment="Triage wording", dataset="tickets", inline=True, repeats=2)
    assert Batch.objects.get().total == 24


def test_it_exits_non_zero_below_the_minimum_success_rate(triage_experiment, tickets):
    # A scorer nothing passes: the demo model never writes this.
    ScorerConfig.objects.create(experiment=triage_experiment, kind="contains", name="impossible",
                                config={"strings": ["never-in-an-answer"]})  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        call_command("run_batch", experiment="Triage wording", dataset="tickets", inline=True, min_success=0.8)
    assert exc.value.code == 3


def test_it_exits_zero_when_the_success_rate_is_met(triage_experiment, tickets):
    call_command("run_batch", experiment="Triage wording", dataset="tickets", inline=True, min_success=0.0)


def test_it_rejects_an_unknown_dataset(triage_experiment):
    with pytest.raises(CommandError, match="No dataset 'nope'"):
        call_command("run_batch", experiment="Triage wording", dataset="nope")


def test_it_reports_bad_repeats_by_field(triage_experiment, tickets):
    with pytest.raises(CommandError, match="repeats"):
        call_command("run_batch", experiment="Triage wording", dataset="tickets", repeats=0)


def test_it_exits_non_zero_when_every_call_fails(triage_experiment, tickets, acme):
    from promptlib.providers.models import ProviderConfig

    ProviderConfig.objects.create(project=acme, name="keyless", kind="openai", api_key_env="MISSING_KEY_FOR_TEST",
                                  models=["gpt-4o-mini"])  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        call_command("run_batch", experiment="Triage wording", dataset="tickets", provider="keyless", inline=True)
    assert exc.value.code == 2


@pytest.mark.parametrize("ref", ["١", "²", "１"])
def test_a_dataset_ref_in_other_digits_is_a_name_not_an_id(triage_experiment, tickets, ref):
    # str.isdigit() accepts these: '١' once found the dataset with id 1, '²' crashed int().
    with pytest.raises(CommandError, match=f"No dataset '{ref}'"):
        call_command("run_batch", experiment="Triage wording", dataset=ref)
    assert not Batch.objects.exists()


def test_an_experiment_ref_in_other_digits_is_a_name_not_an_id(triage_experiment, tickets):
    with pytest.raises(CommandError, match="No experiment"):
        call_command("run_batch", experiment="١", dataset="tickets")


def test_a_batch_stopped_early_says_why_in_one_sentence(triage_experiment, acme, capsys):
    from promptlib.providers.limits import limiter_for
    from tests.batches_support import standin_answer, standin_provider, tickets_dataset
    from tests.standins.server import StandinServer

    tickets_dataset(acme, count=40, name="many")
    with StandinServer(latency=0.01, answer=standin_answer, record_bodies=False) as server:
        server.fail_randomly(1.0, status=401)
        limiter_for(standin_provider(acme, server, name="wrong-key")).reset()
        with pytest.raises(SystemExit) as exc:
            call_command("run_batch", experiment="Triage wording", dataset="many", provider="wrong-key",
                         model="standin", inline=True)  # fmt: skip
    assert exc.value.code == 2
    assert "failed. The provider refused the API key (401)." in capsys.readouterr().err


@pytest.fixture
def failing_challenger(triage_experiment, acme):
    """Variant b's version calls a provider whose key is missing: every b call fails, control's succeed."""
    import dataclasses

    from promptlib.experiments.services import VariantSpec, experiment_variants_set
    from promptlib.prompts.services import version_create
    from promptlib.providers.models import ProviderConfig
    from tests.batches_support import triage_content

    ProviderConfig.objects.create(project=acme, name="keyless", kind="openai",
                                  api_key_env="PROMPTLIB_KEY_MISSING_FOR_TEST", models=["gpt-4o-mini"])  # fmt: skip
    control = triage_experiment.variants.get(key="control").version
    content = dataclasses.replace(triage_content("Classify it."), provider="keyless", model="gpt-4o-mini")
    broken, _ = version_create(template=triage_experiment.template, content=content)
    experiment_variants_set(
        experiment=triage_experiment,
        variants=[VariantSpec(key="control", version=control, is_control=True), VariantSpec(key="b", version=broken)],
    )
    return triage_experiment


def test_a_variant_below_the_minimum_fails_even_when_the_pooled_rate_passes(failing_challenger, tickets, capsys):
    # b fails every call (0%) while control succeeds: pooled, the rate would pass 1%.
    with pytest.raises(SystemExit) as exc:
        call_command("run_batch", experiment="Triage wording", dataset="tickets", inline=True, min_success=0.01)
    assert exc.value.code == 3
    assert "b 0.0%" in capsys.readouterr().err


def test_min_success_can_check_one_variant(failing_challenger, tickets):
    call_command(
        "run_batch", experiment="Triage wording", dataset="tickets", inline=True, min_success=0.01, variant="control"
    )


def test_an_unknown_variant_is_refused(triage_experiment, tickets):
    with pytest.raises(CommandError, match="no variant 'zzz'"):
        call_command("run_batch", experiment="Triage wording", dataset="tickets", min_success=0.5, variant="zzz")
