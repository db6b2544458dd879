"""Forms of the batch admin pages: start a batch, schedule one, configure a scorer, review an output."""

from __future__ import annotations

from django import forms

from promptlib.models import Dataset, Experiment, ProviderConfig, ScorerConfig
from promptlib.scorers import ScorerError, kind_choices, scorer_for


def _tags(raw: str) -> list[str]:
    return [t.strip() for t in (raw or "").split(",") if t.strip()]


class BatchSettingsForm(forms.Form):
    experiment = forms.ModelChoiceField(queryset=Experiment.objects.none())
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    provider = forms.ModelChoiceField(
        queryset=ProviderConfig.objects.none(), required=False, help_text="Blank: each variant's own provider."
    )
    model = forms.CharField(required=False, help_text="Blank: each variant's own model.")
    repeats = forms.IntegerField(min_value=1, max_value=100, initial=1)
    tags = forms.CharField(required=False, help_text="Only cases with one of these comma-separated tags.")
    use_cache = forms.BooleanField(required=False, label="Reuse stored responses of identical calls")

    def __init__(self, *args, project_ids: list[int] | None, **kwargs):
        super().__init__(*args, **kwargs)
        for name, model in (("experiment", Experiment), ("dataset", Dataset), ("provider", ProviderConfig)):
            rows = model.objects.all()
            self.fields[name].queryset = rows if project_ids is None else rows.filter(project_id__in=project_ids)

    def settings(self) -> dict:
        data = self.cleaned_data
        return {
            "experiment": data["experiment"],
            "dataset": data["dataset"],
            "provider": data["provider"],
            "model": data["model"].strip(),
            "repeats": data["repeats"],
            "tags": _tags(data["tags"]),
            "use_cache": data["use_cache"],
        }


class ScheduleForm(BatchSettingsForm):
    name = forms.CharField(max_length=200)
    cron = forms.CharField(required=False, help_text="Five cron fields in UTC, e.g. '0 6 * * 1' = Mondays at 06:00.")
    every_seconds = forms.IntegerField(required=False, min_value=60, help_text="Or: every N seconds (at least 60).")


class ScorerConfigForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=kind_choices())

    class Meta:
        model = ScorerConfig
        fields = ("experiment", "kind", "name", "config", "order", "counts_for_success")

    def clean(self):
        data = super().clean()
        if data.get("kind") and data.get("name"):
            try:
                data["config"] = {
                    k: v
                    for k, v in scorer_for(data["kind"])
                    .validate_config({**(data.get("config") or {}), "name": data["name"]})
                    .items()
                    if k != "name"
                }
            except ScorerError as exc:
                field = exc.field if exc.field in ("kind", "name") else "config"
                self.add_error(field, f"{exc.field}: {exc.message}" if field == "config" else exc.message)
        return data


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.RadioSelect)
    edited_output = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8}), help_text="Optional: the output as it should be."
    )
    opened = forms.CharField(widget=forms.HiddenInput)
