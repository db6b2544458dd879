"""An experiment set up from its template, as a marketer does it: two versions, checks, metrics.

`comparison_suggest` proposes what the template and its dataset allow: production (or the version
before the newest) against the newest version, the template's dataset, and the checks its data
can run (expected fields in the cases → "right classification"; an output schema → "follows the
output schema"). `comparison_create` checks everything first and reports every problem at once,
then writes the experiment, its two variants and its checks in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from promptlib.batches.models import Dataset, DatasetCase
from promptlib.batches.scorer_configs import scorer_config_create
from promptlib.batches.selectors import dataset_for_template
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import ExperimentError, VariantSpec, experiment_create, metrics_validate
from promptlib.prompts.models import Template, Version
from promptlib.prompts.selectors import version_for_label, version_latest
from promptlib.scorers.registry import SCORER_KINDS

CONTROL_LABEL = "production"
CASES_LOOKED_AT = 200  # enough to see which expected fields and answers the cases carry


@dataclass(frozen=True)
class ScorerSuggestion:
    kind: str
    name: str  # the result's name in reports, chosen here so nobody types one
    why: str  # in words: what in the template or the dataset suggests it
    suggested: bool = True  # ticked at first


@dataclass(frozen=True)
class Comparison:
    """What the "Compare versions" form asks for; every field may be missing until it is checked."""

    template: Template
    name: str = ""
    control: Version | None = None
    challenger: Version | None = None
    dataset: Dataset | None = None
    scorer_kinds: tuple[str, ...] = ()
    primary_metric: str = "task_success_rate"
    guardrail_metrics: tuple[str, ...] = ()
    minimum_effect: float | None = 0.05
    description: str = ""
    suggestions: tuple[ScorerSuggestion, ...] = field(default=(), compare=False)


def scorers_suggested(*, template: Template, dataset: Dataset | None) -> list[ScorerSuggestion]:
    """The checks this template and dataset can run, the ones their data calls for ticked."""
    latest = version_latest(template=template)
    fields: set[str] = set()
    answers = False
    if dataset is not None:
        rows = DatasetCase.objects.filter(dataset=dataset).values_list("expected_fields", "expected_output")
        for expected_fields, expected_output in rows[:CASES_LOOKED_AT]:
            fields |= set(expected_fields or {})
            answers = answers or bool(expected_output)
    out = []
    if fields:
        names = ", ".join(sorted(fields))
        name = "category_match" if fields == {"category"} else "fields_match"
        out.append(ScorerSuggestion("expected_fields", name, f"your test cases say which {names} to expect"))
    if latest is not None and latest.output_schema:
        out.append(ScorerSuggestion("json_schema", "follows_format", "the prompt asks for answers in a fixed format"))
    if answers:
        out.append(ScorerSuggestion("exact_match", "exact_answer", "your test cases give the expected answer"))
    offered = {s.kind for s in out}
    if "json_schema" not in offered:
        out.append(ScorerSuggestion("json_valid", "valid_json", "for answers meant to be JSON", suggested=False))
    out.append(ScorerSuggestion("human_review", "human_review", "a person reads each answer", suggested=False))
    return out


def comparison_suggest(*, template: Template) -> Comparison:
    """Production (or the version before the newest) against the newest, with the template's dataset."""
    latest = version_latest(template=template)
    control = version_for_label(template=template, label=CONTROL_LABEL)
    if control is None or latest is None or control.pk == latest.pk:
        control = template.versions.exclude(pk=latest.pk if latest else None).order_by("-number").first()
    dataset = dataset_for_template(template_id=template.pk)
    suggestions = tuple(scorers_suggested(template=template, dataset=dataset))
    name = f"Version {latest.number} against version {control.number}" if control and latest else ""
    return Comparison(
        template=template, name=name, control=control, challenger=latest, dataset=dataset,
        scorer_kinds=tuple(s.kind for s in suggestions if s.suggested), suggestions=suggestions,
    )  # fmt: skip


def _problems(plan: Comparison) -> list[ExperimentError]:
    problems = []
    if not (plan.name or "").strip():
        problems.append(ExperimentError("Give the experiment a name.", field="name"))
    for which, version in (("control", plan.control), ("challenger", plan.challenger)):
        if version is None:
            problems.append(ExperimentError("Choose a version.", field=which))
        elif version.template_id != plan.template.pk:
            problems.append(ExperimentError("Choose a version of this prompt.", field=which))
    if plan.control is not None and plan.challenger is not None and plan.control.pk == plan.challenger.pk:
        problems.append(ExperimentError("Choose two different versions to compare.", field="challenger"))
    if plan.dataset is not None and plan.dataset.project_id != plan.template.project_id:
        problems.append(ExperimentError("Choose test cases of this project.", field="dataset"))
    for kind in plan.scorer_kinds:
        if kind not in SCORER_KINDS:
            problems.append(ExperimentError(f"Unknown check {kind!r}.", field="scorer_kinds"))
    try:
        metrics_validate(primary_metric=plan.primary_metric, guardrail_metrics=list(plan.guardrail_metrics))
    except ExperimentError as exc:
        problems.append(exc)
    effect = plan.minimum_effect
    if effect is None or not effect > 0:
        problems.append(ExperimentError("Give a difference above 0, e.g. 0.05.", field="minimum_effect"))
    return problems


def comparison_create(*, plan: Comparison, created_by=None) -> Experiment:
    """A draft experiment (control against challenger) with its checks; every problem reported at once."""
    problems = _problems(plan)
    if problems:
        raise ExperimentError(f"{len(problems)} thing(s) to fix.", field="", errors=problems)
    by_kind = {s.kind: s for s in scorers_suggested(template=plan.template, dataset=plan.dataset)}
    with transaction.atomic():
        experiment = experiment_create(
            template=plan.template,
            name=plan.name,
            description=plan.description,
            variants=[
                VariantSpec(key="control", version=plan.control, is_control=True),
                VariantSpec(key="challenger", version=plan.challenger),
            ],
            primary_metric=plan.primary_metric,
            guardrail_metrics=list(plan.guardrail_metrics),
            minimum_effect=plan.minimum_effect,
            created_by=created_by,
        )
        for order, kind in enumerate(plan.scorer_kinds, start=1):
            name = by_kind[kind].name if kind in by_kind else kind
            scorer_config_create(experiment=experiment, kind=kind, name=name, order=order,
                                 counts_for_success=SCORER_KINDS[kind].pass_fail)  # fmt: skip
    return experiment
