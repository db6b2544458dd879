"""What "Start a batch" offers first for an experiment: settings that run, or what to set up first.

The provider is the one the template's versions name when the project has it; otherwise the
project's only provider, or its offline demo provider (a version naming "openai" in a project
without it would fail every call). The dataset is the template's own. A missing piece is said in
a sentence with what to set up (`missing`), never left for the batch to fail on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptlib.batches.dataset_types import input_problems
from promptlib.batches.models import Dataset
from promptlib.batches.selectors import dataset_for_template
from promptlib.experiments.models import Experiment
from promptlib.providers.models import ProviderConfig

# What a marketer has to set up first: ("provider" | "dataset", the sentence).
Missing = tuple[str, str]


@dataclass(frozen=True)
class BatchDefaults:
    dataset: Dataset | None = None
    provider: ProviderConfig | None = None
    model: str = ""
    repeats: int = 1
    missing: list[Missing] = field(default_factory=list)


def _provider_default(*, experiment: Experiment) -> tuple[ProviderConfig | None, str]:
    """(provider, model): the versions' own provider when the project has it, else a working one."""
    configs = list(ProviderConfig.objects.filter(project_id=experiment.project_id).order_by("name"))
    by_name = {config.name: config for config in configs}
    named = {variant.version.provider for variant in experiment.variants.select_related("version")}
    if len(named) == 1 and next(iter(named)) in by_name:
        return by_name[next(iter(named))], ""  # each version's own model
    substitute = configs[0] if len(configs) == 1 else next((c for c in configs if c.kind == c.Kind.DEMO), None)
    if substitute is None:
        return None, ""
    # Another provider than the versions name: one of its own models, not theirs.
    return substitute, (substitute.models[0] if substitute.models else "")


def batch_defaults(*, experiment: Experiment) -> BatchDefaults:
    dataset = dataset_for_template(template_id=experiment.template_id)
    provider, model = _provider_default(experiment=experiment)
    missing: list[Missing] = []
    if provider is None:
        named = sorted({v.version.provider for v in experiment.variants.select_related("version")} - {""})
        which = f"“{named[0]}”, which its versions name, " if len(named) == 1 else ""
        sentence = f"Set up an AI provider first: this project has no provider {which}to send the cases to."
        missing.append(("provider", sentence))
    if dataset is None:
        sentence = f"Add test cases first: the prompt “{experiment.template.title}” has no dataset yet."
        missing.append(("dataset", sentence))
    elif not dataset.cases.exists():
        missing.append(("dataset", f"Import test cases into “{dataset.name}” first: it is empty."))
    return BatchDefaults(dataset=dataset, provider=provider, model=model, missing=missing)


CASES_CHECKED = 2000  # a batch's cases are few; beyond this many, the first ones tell


def dataset_fit_problems(*, experiment: Experiment, dataset: Dataset, shown: int = 3) -> list[str]:
    """Why cases of the dataset would fail to render in the experiment's versions: the first few, in words.

    The same rule as the import's (dataset_types.input_problems) and the renderer's, checked before a
    batch makes calls that would all fail (e.g. a list variable filled with text by an older import).
    """
    declarations = {v.version.number: v.version.variables for v in experiment.variants.select_related("version")}
    problems: list[str] = []
    cases = dataset.cases.order_by("position").values_list("position", "input")[:CASES_CHECKED]
    for position, given in cases:
        for number, declared in sorted(declarations.items()):
            for _name, problem in input_problems(declared, given or {}):
                problems.append(f"Case {position}, version {number}: {problem}")
                if len(problems) >= shown:
                    return problems
    return problems
