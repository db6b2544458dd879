"""Forms of the batch admin pages: start a batch, review an output."""

from __future__ import annotations

from django import forms

from promptlib.batches.models import Dataset
from promptlib.batches.services import BatchSettings
from promptlib.experiments.models import Experiment
from promptlib.providers.models import ProviderConfig


def _tags(raw: str) -> list[str]:
    return [t.strip() for t in (raw or "").split(",") if t.strip()]


class BatchSettingsForm(forms.Form):
    experiment = forms.ModelChoiceField(
        queryset=Experiment.objects.none(), help_text="Each of its variants (versions) answers every test case."
    )
    dataset = forms.ModelChoiceField(
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
        for name, model in (("experiment", Experiment), ("dataset", Dataset), ("provider", ProviderConfig)):
            rows = model.objects.all()
            self.fields[name].queryset = rows if project_ids is None else rows.filter(project_id__in=project_ids)

    def settings(self) -> BatchSettings:
        data = self.cleaned_data
        return BatchSettings(
            experiment=data["experiment"],
            dataset=data["dataset"],
            provider=data["provider"],
            model=data["model"].strip(),
            repeats=data["repeats"],
            tags=tuple(_tags(data["tags"])),
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
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        label="Corrected answer",
        help_text="Optional: change the answer to how it should be.",
    )
    opened = forms.CharField(widget=forms.HiddenInput)
