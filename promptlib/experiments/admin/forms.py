"""The experiment and variant forms of the admin, with help written for marketers.

The admin shows help texts as HTML, so every name that comes from data is escaped.
"""

from __future__ import annotations

from django import forms
from django.utils.html import escape, format_html, format_html_join

from promptlib.admin.base import form_error_add
from promptlib.experiments.metrics import METRICS
from promptlib.experiments.models import Experiment, Variant
from promptlib.experiments.services import ExperimentError, metrics_validate
from promptlib.prompts.models import Version
from promptlib.scorers.registry import SCORER_KINDS

GUARDRAIL_HELP = (
    "Metrics that must not get worse while the primary one improves, separated by commas, e.g. "
    "cost_per_success_usd, latency_p95_ms. Same names as for the primary metric."
)
EXPERIMENT_HELP = {
    "template": "The prompt whose versions compete. It cannot change once the experiment exists.",
    "name": "A short name people recognise, e.g. “Shorter welcome email”.",
    "description": "Optional: what you are trying and why you expect it to win.",
    "guardrail_metrics": GUARDRAIL_HELP,
    "minimum_effect": (
        "The smallest difference worth detecting, in the primary metric's units. For a rate, 0.05 means "
        "5 percentage points (40% → 45%); for a time in ms, 200 means 200 ms. The smaller it is, the more "
        "test cases and users the experiment needs before it can name a winner."
    ),
    "status": (
        "Draft while you set it up; Running: users and batches get the variants; Paused: everyone gets the "
        "usual version for now; Finished: over for good. Change it with the buttons at the top."
    ),
    "salt": "Mixed into how each user is assigned a variant, so the same user always sees the same one.",
    "started_at": "When it first started running.",
    "finished_at": "When it was finished.",
    "created_by": "Who created it.",
}
VARIANT_HELP = {
    "key": "A short name for the variant, used in reports and by your app: control, b, shorter-intro.",
    "version": "The template version this variant shows.",
    "weight": "Share of users relative to the other variants: 1 and 1 split 50/50; 3 and 1 send 75% here.",
    "is_control": "The version you compare against, usually the one in production. Tick exactly one.",
}


def primary_metric_help(*, outcome_metrics: list[str]) -> str:
    """What the primary metric is, and every name it can take: batch metrics and reported outcomes."""
    batch = "; ".join(f"{escape(m.name)} ({escape(m.label)})" for m in METRICS.values())
    if outcome_metrics:
        production = "Outcomes your application reports in this project: " + ", ".join(map(escape, outcome_metrics))
    else:
        production = "No production outcomes reported yet"
    return (
        "The one number that decides which version wins. From test batches: "
        f"{batch}. {production}; any name your application sends to /api/v1/outcomes (e.g. converted) works."
    )


class MetricNameInput(forms.TextInput):
    """A text box that suggests the known metric names as you type."""

    def __init__(self, *args, names: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.names = names or []

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}-names"
        html = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}"></option>', ((n,) for n in self.names))
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


class VariantForm(forms.ModelForm):
    class Meta:
        model = Variant
        fields = ("key", "version", "weight", "is_control")
        help_texts = VARIANT_HELP


class ExperimentForm(forms.ModelForm):
    guardrail_metrics = forms.CharField(required=False, help_text=GUARDRAIL_HELP)
    # Set by ExperimentAdmin.get_form: the outcome metric names reported in the experiment's project(s).
    outcome_metrics: list[str] = []

    class Meta:
        model = Experiment
        fields = ("template", "name", "description", "primary_metric", "guardrail_metrics", "minimum_effect")
        # Also read by the admin for read-only fields (a started experiment's metrics, its status…).
        help_texts = {**EXPERIMENT_HELP, "primary_metric": primary_metric_help(outcome_metrics=[])}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "guardrail_metrics" in self.fields:
            self.initial["guardrail_metrics"] = ", ".join(self.instance.guardrail_metrics or [])
        if "primary_metric" in self.fields:
            field = self.fields["primary_metric"]
            field.help_text = primary_metric_help(outcome_metrics=self.outcome_metrics)
            field.widget = MetricNameInput(attrs=field.widget.attrs, names=[*METRICS, *self.outcome_metrics])

    def clean_guardrail_metrics(self):
        raw = self.cleaned_data.get("guardrail_metrics") or ""
        return [name.strip() for name in raw.split(",") if name.strip()]

    def clean(self):
        cleaned = super().clean()
        if "primary_metric" in cleaned and "guardrail_metrics" in cleaned:
            try:
                metrics_validate(
                    primary_metric=cleaned["primary_metric"], guardrail_metrics=cleaned["guardrail_metrics"]
                )
            except ExperimentError as exc:
                form_error_add(self, exc)
        return cleaned


# --- "Compare versions": an experiment from its template, no code names typed ---------------------------


def metric_choices(*, outcome_metrics: list[str]) -> list[tuple[str, str]]:
    """Each metric by its plain name and which way is better; then the outcomes the application reports."""
    batch = [(m.name, f"{m.label} ({'higher' if m.higher_is_better else 'lower'} is better)") for m in METRICS.values()]
    reported = [(name, f"{name} (reported by your application)") for name in outcome_metrics if name not in METRICS]
    return batch + reported


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Version) -> str:
        labels = ", ".join(label.name for label in obj.labels.all())
        note = f" — {obj.change_note[:60]}" if obj.change_note else ""
        return f"Version {obj.number}{f' ({labels})' if labels else ''}{note}"


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.case_total} case{'s' if obj.case_total != 1 else ''})"


class CompareForm(forms.Form):
    """Every field optional here: the service checks them all and reports every problem at once."""

    name = forms.CharField(required=False, max_length=200, help_text=EXPERIMENT_HELP["name"])
    control = VersionChoiceField(
        queryset=Version.objects.none(), required=False, label="Current version",
        help_text="The version you compare against, usually the one in production.",
    )  # fmt: skip
    challenger = VersionChoiceField(
        queryset=Version.objects.none(),
        required=False,
        label="New version",
        help_text="The version you hope is better.",
    )
    dataset = DatasetChoiceField(
        queryset=None, required=False, label="Test cases",
        help_text="The sample inputs (and expected answers) each version answers in a test batch.",
    )  # fmt: skip
    scorer_kinds = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Checks on every answer",
        help_text="Suggested from what your prompt and test cases have. An answer counts as a success when it "
        "passes every ticked check.",
    )  # fmt: skip
    primary_metric = forms.ChoiceField(
        label="What decides the winner", help_text="The one number that decides which version wins."
    )
    guardrail_metrics = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Must not get worse",
        help_text="Optional: numbers that must not get worse while the winner improves.",
    )  # fmt: skip
    minimum_effect = forms.FloatField(
        required=False,
        initial=0.05,
        label="Smallest difference worth finding",
        help_text=EXPERIMENT_HELP["minimum_effect"],
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text=EXPERIMENT_HELP["description"])  # fmt: skip

    def __init__(self, *args, template, datasets, suggestions, outcome_metrics: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        versions = Version.objects.filter(template=template).prefetch_related("labels").order_by("-number")
        self.fields["control"].queryset = self.fields["challenger"].queryset = versions
        self.fields["dataset"].queryset = datasets
        self.fields["scorer_kinds"].choices = [
            (s.kind, format_html("<strong>{}</strong>: {}", SCORER_KINDS[s.kind].label, s.why)) for s in suggestions
        ]
        choices = metric_choices(outcome_metrics=outcome_metrics)
        self.fields["primary_metric"].choices = choices
        self.fields["guardrail_metrics"].choices = choices
