"""Scorers by form: each kind asks for its own options (no JSON), and a check can be tried on a sample answer."""

import pytest

from promptlib.batches.models import ScorerConfig
from promptlib.providers.models import ProviderConfig
from promptlib.scorers import SCORER_KINDS, scorer_for
from promptlib.scorers.fields import FORM_FIELDS

pytestmark = pytest.mark.django_db
ADD = "/admin/promptlib/scorerconfig/add/"
TRY = "/admin/promptlib/scorerconfig/try/"


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


def _add(client, experiment, kind, name, **options):
    data = {"experiment": experiment.pk, "kind": kind, "name": name, "order": 1, "counts_for_success": "on"}
    data.update({f"opt_{kind}__{k}": v for k, v in options.items()})
    return client.post(ADD, data)


def test_every_kind_has_its_form_fields_and_every_field_is_an_option_of_its_kind():
    assert set(FORM_FIELDS) == set(SCORER_KINDS)
    for kind, fields in FORM_FIELDS.items():
        assert {f.option for f in fields} <= set(scorer_for(kind).options), kind


def test_the_add_page_asks_for_options_by_name_and_never_for_json(as_bob):
    html = as_bob.get(ADD).content.decode()
    assert 'name="opt_regex__pattern"' in html and 'name="opt_contains__strings"' in html
    assert 'name="opt_llm_judge__rubric"' in html
    assert "JSON (for developers)" not in html and 'name="config"' not in html
    assert "Try it on a sample answer" in html


def test_a_contains_check_is_saved_from_one_phrase_per_line(as_bob, triage_experiment):
    r = _add(as_bob, triage_experiment, "contains", "says_sorry", strings="sorry\n\n apologise \n", mode="any")
    assert r.status_code == 302, r.context["adminform"].form.errors
    scorer = ScorerConfig.objects.get(name="says_sorry")
    assert scorer.config == {"strings": ["sorry", "apologise"], "mode": "any", "case_insensitive": False}


def test_only_the_chosen_kinds_options_are_read(as_bob, triage_experiment):
    r = _add(as_bob, triage_experiment, "json_valid", "is_json", strict="on")
    assert r.status_code == 302
    assert ScorerConfig.objects.get(name="is_json").config == {"strict": True}


def test_a_regex_re2_cannot_compile_is_an_error_on_the_pattern_field(as_bob, triage_experiment):
    r = _add(as_bob, triage_experiment, "regex", "r", pattern="(?<=a)b", must_match="on")
    assert r.status_code == 200
    assert "lookarounds" in str(r.context["adminform"].form.errors["opt_regex__pattern"])
    assert not ScorerConfig.objects.filter(name="r").exists()


def test_a_missing_required_option_is_named_on_its_field(as_bob, triage_experiment):
    r = _add(as_bob, triage_experiment, "llm_judge", "judge", rubric="", model="")
    errors = r.context["adminform"].form.errors
    assert set(errors) == {"opt_llm_judge__rubric", "opt_llm_judge__provider", "opt_llm_judge__model"}


def test_the_judge_provider_is_picked_from_the_projects_providers(as_bob, triage_experiment, demo_provider):
    r = _add(as_bob, triage_experiment, "llm_judge", "judge", rubric="Polite.", provider=demo_provider.name,
             model="demo-1", scale=10, pass_threshold=0.7)  # fmt: skip
    assert r.status_code == 302, r.context["adminform"].form.errors
    assert ScorerConfig.objects.get(name="judge").config["provider"] == demo_provider.name


def test_another_projects_provider_is_not_offered(as_bob, triage_experiment, globex):
    ProviderConfig.objects.create(project=globex, name="secret-openai", kind="openai")
    html = as_bob.get(ADD).content.decode()
    assert "secret-openai" not in html


def test_a_scorer_order_past_the_integer_range_is_a_form_error(as_bob, triage_experiment):
    r = as_bob.post(ADD, {"experiment": triage_experiment.pk, "kind": "json_valid", "name": "j",
                          "order": 1099511627776, "counts_for_success": "on"})  # fmt: skip
    assert r.status_code == 200 and "order" in r.context["adminform"].form.errors
    assert not ScorerConfig.objects.filter(name="j").exists()


def test_the_edit_page_shows_the_saved_options_in_their_fields(as_bob, triage_experiment):
    scorer = ScorerConfig.objects.create(experiment=triage_experiment, kind="contains", name="c",
                                         config={"strings": ["refund", "sorry"], "mode": "all"})  # fmt: skip
    form = as_bob.get(f"/admin/promptlib/scorerconfig/{scorer.pk}/change/").context["adminform"].form
    assert form.initial["opt_contains__strings"] == "refund\nsorry"


def test_trying_a_check_on_a_sample_answer_gives_its_verdict(as_bob):
    body = as_bob.post(TRY, {"kind": "regex", "opt_regex__pattern": r"\d{5}", "opt_regex__must_match": "on",
                             "sample": "Your code is 12345."}).json()  # fmt: skip
    assert body == {"ok": True, "passed": True, "value": 1.0, "detail": "matched '12345'"}
    body = as_bob.post(TRY, {"kind": "contains", "opt_contains__strings": "refund", "opt_contains__mode": "all",
                             "sample": "No luck."}).json()  # fmt: skip
    assert body["passed"] is False and "missing: 'refund'" in body["detail"]


def test_trying_compares_with_the_expected_answer_given(as_bob):
    body = as_bob.post(TRY, {"kind": "exact_match", "opt_exact_match__ignore_whitespace": "on",
                             "sample": " billing ", "expected": "billing"}).json()  # fmt: skip
    assert body["passed"] is True


def test_trying_a_broken_pattern_names_the_field_in_words(as_bob):
    r = as_bob.post(TRY, {"kind": "regex", "opt_regex__pattern": "(", "sample": "x"})
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["field"] == "opt_regex__pattern" and error["label"] == "Pattern"


def test_a_viewer_of_no_project_cannot_try(client, django_user_model):
    outsider = django_user_model.objects.create_user("olga", password="pw", is_staff=True)
    client.force_login(outsider)
    assert client.post(TRY, {"kind": "json_valid", "sample": "{}"}).status_code == 403


def test_the_list_filters_by_kind_in_words(as_bob, triage_experiment):
    response = as_bob.get("/admin/promptlib/scorerconfig/")
    html = response.content.decode()
    assert ">Exact match</a>" in html and ">exact_match<" not in html  # every kind, by its label, not its code
    filtered = as_bob.get("/admin/promptlib/scorerconfig/?kind=json_schema").context["cl"].result_list
    assert [s.name for s in filtered] == ["schema"]
