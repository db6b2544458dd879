"""Forms of the batch admin pages: start a batch, review an output."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from promptlib.batches.models import Dataset
from promptlib.batches.services import BatchSettings
from promptlib.batches.start_defaults import batch_defaults, dataset_fit_problems
from promptlib.experiments.models import Experiment
from promptlib.providers.models import ProviderConfig


def tags_from_text(raw: str) -> list[str]:
    """Tags typed as words separated by commas ("billing, vip")."""
    return [t.strip() for t in (raw or "").split(",") if t.strip()]


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} (for “{obj.template.title}”)" if obj.template_id else obj.name


class BatchSettingsForm(forms.Form):
    experiment = forms.ModelChoiceField(
        queryset=Experiment.objects.none(), help_text="Each of its variants (versions) answers every test case."
    )
    dataset = DatasetChoiceField(
        queryset=Dataset.objects.none(), help_text="The test cases: sample inputs and the answers you expect."
    )
    provider = forms.ModelChoiceField(
        queryset=ProviderConfig.objects.none(),
        required=False,
        label="AI provider",
        help_text="Leave empty to use the provider each version names in its model settings.",
    )
    model = forms.CharField(
        required=False, max_length=200, label="AI model", help_text="Leave empty to use the model each version names."
    )
    repeats = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=1,
        help_text="How often each case is asked. More than 1 shows whether answers stay the same.",
    )
    tags = forms.CharField(
        required=False, help_text="Optional: run only the cases with one of these tags, separated by commas."
    )
    use_cache = forms.BooleanField(
        required=False,
        label="Reuse earlier answers",
        help_text="Answers to exactly the same request are taken from earlier runs: faster and free, "
        "but they do not show how the model answers today.",
    )

    def __init__(self, *args, project_ids: list[int] | None, **kwargs):
        super().__init__(*args, **kwargs)
        for name, rows in (
            ("experiment", Experiment.objects.select_related("template")),
            ("dataset", Dataset.objects.current().select_related("template")),
            ("provider", ProviderConfig.objects.all()),
        ):
            self.fields[name].queryset = rows if project_ids is None else rows.filter(project_id__in=project_ids)
        self.missing: list[tuple[str, str]] = []  # (sentence, link) of what to set up before a batch can run
        if not self.is_bound:
            self._fill_defaults()

    def _fill_defaults(self) -> None:
        """Preselect what runs for the experiment asked for (or the only one), and say what is missing."""
        experiments = self.fields["experiment"].queryset
        experiment = experiments.filter(pk=self.initial.get("experiment") or 0).first()
        if experiment is None and "experiment" not in self.initial and experiments[:2].count() == 1:
            experiment = experiments.first()
        if experiment is None:
            return
        defaults = batch_defaults(experiment=experiment)
        self.initial["experiment"] = experiment.pk
        self.fields["dataset"].queryset = self.fields["dataset"].queryset.filter(
            Q(template_id=experiment.template_id) | Q(template__isnull=True), project_id=experiment.project_id
        )
        self.initial.setdefault("dataset", defaults.dataset.pk if defaults.dataset else None)
        if defaults.provider is not None:
            self.initial.setdefault("provider", defaults.provider.pk)
            self.initial.setdefault("model", defaults.model)
        links = {
            "provider": reverse("admin:promptlib_providerconfig_add"),
            "dataset": (
                reverse("admin:promptlib_dataset_import", args=[defaults.dataset.pk])
                if defaults.dataset
                else reverse("admin:promptlib_dataset_add") + f"?template={experiment.template_id}"
            ),
        }
        self.missing = [(sentence, links[what]) for what, sentence in defaults.missing]

    def clean(self):
        data = super().clean()
        experiment, dataset = data.get("experiment"), data.get("dataset")
        if experiment is not None and dataset is not None:
            problems = dataset_fit_problems(experiment=experiment, dataset=dataset)
            if problems:  # every call would fail on these cases: say so now, not after the batch
                link = reverse("admin:promptlib_dataset_import", args=[dataset.pk])
                self.add_error("dataset", format_html(
                    "These test cases do not fit the prompt: {}. <a href=\"{}\">Import a corrected file</a> "
                    "(it becomes the dataset's next version).", "; ".join(problems), link,
                ))  # fmt: skip
        return data

    def settings(self) -> BatchSettings:
        data = self.cleaned_data
        return BatchSettings(
            experiment=data["experiment"],
            dataset=data["dataset"],
            provider=data["provider"],
            model=data["model"].strip(),
            repeats=data["repeats"],
            tags=tuple(tags_from_text(data["tags"])),
            use_cache=data["use_cache"],
        )


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve: a good answer"), ("reject", "Reject: not good enough")],
        widget=forms.RadioSelect,
        label="Your verdict",
    )
    edited_output = forms.CharField(
        required=False,
        strip=False,  # as the browser sent it: an indented answer stays indented (promptlib.batches.reviews compares)
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        label="Corrected answer",
        help_text="Optional: change the answer to how it should be.",
    )
    opened = forms.CharField(widget=forms.HiddenInput)
