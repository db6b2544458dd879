"""The knowledge-base demo: support replies without vs with the coffee shop's knowledge base, one batch.

The support-reply template in templates_store/ retrieves from templates_store/knowledge/coffee-shop/
(its shipping and refund policies, product catalogue and brand voice). The demo adds the same prompt
without the knowledge base as the control, and runs both on the support-reply dataset, whose cases
name the fact a right answer must quote (expected answer, expected facts and sources). The demo
provider knows no facts of its own, so only the variant with the knowledge base can answer right —
and the context recall row says why. Idempotent, like the rest of the demo.
"""

from __future__ import annotations

from dataclasses import replace

from promptlib.batches.models import Batch, Dataset
from promptlib.batches.scorer_configs import scorer_config_create
from promptlib.batches.services import BatchSettings, batch_create, batch_run_inline
from promptlib.core.models import Project
from promptlib.experiments.models import Experiment
from promptlib.experiments.services import VariantSpec, experiment_create
from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Template
from promptlib.prompts.services import version_create
from promptlib.providers.models import ProviderConfig

SUPPORT = "support-reply"
EXPERIMENT_NAME = "Support reply: without vs with the knowledge base"
CONTROL_NOTE = "Demo control: the same prompt without the knowledge base."
WITHOUT_CONTEXT = "(No reference material: answer from what you know about Northwind Coffee.)"


def _versions(template: Template, user):
    """(without, with): the file's version retrieves; the control is the same prompt without it."""
    with_kb = template.versions.order_by("number").first()
    without = template.versions.filter(change_note=CONTROL_NOTE).first()
    if without is None:
        content = replace(VersionContent.from_obj(with_kb), context=WITHOUT_CONTEXT, retrieval=None)
        without, _ = version_create(template=template, content=content, author=user, change_note=CONTROL_NOTE)
    return without, with_kb


def demo_knowledge_setup(*, project: Project, provider: ProviderConfig, model: str, user=None) -> Batch | None:
    template = Template.objects.filter(project=project, slug=SUPPORT).first()
    dataset = Dataset.objects.current().filter(project=project, name=SUPPORT).first()
    if template is None or dataset is None or not template.versions.filter(retrieval__isnull=False).exists():
        return None
    experiment = Experiment.objects.filter(project=project, name=EXPERIMENT_NAME).first()
    if experiment is None:
        without, with_kb = _versions(template, user)
        experiment = experiment_create(
            template=template,
            name=EXPERIMENT_NAME,
            description="Offline demo: the support reply answered from the model alone, and with passages of the "
            "coffee-shop knowledge base (policies, catalogue, brand voice) in its context.",
            variants=[
                VariantSpec(key="without-kb", version=without, is_control=True),
                VariantSpec(key="with-kb", version=with_kb),
            ],
            created_by=user,
        )
        scorer_config_create(experiment=experiment, kind="contains", name="quotes_the_fact", order=1)
        scorer_config_create(
            experiment=experiment, kind="faithfulness", name="sticks_to_the_passages", order=2,
            config={"provider": provider.name, "model": model}, counts_for_success=False,
        )  # fmt: skip
    batch = Batch.objects.filter(experiment=experiment).order_by("-created_at").first()
    if batch is None:
        what = BatchSettings(experiment=experiment, dataset=dataset, provider=provider, model=model)
        batch = batch_run_inline(batch=batch_create(settings=what, created_by=user))
    return batch
