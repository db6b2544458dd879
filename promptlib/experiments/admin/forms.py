"""The experiment and variant forms of the admin, with help written for marketers.

The admin shows help texts as HTML, so every name that comes from data is escaped.
"""

from __future__ import annotations

from django import forms
from django.utils.html import escape, format_html, format_html_join

from promptlib.admin.base import form_error_add
from promptlib.experiments.margins import DEFAULT_MARGINS, margin_choices, margin_text
from promptlib.experiments.metrics import METRICS, direction_words
from promptlib.experiments.models import Experiment, Variant
from promptlib.experiments.selectors import application_metric_labels
from promptlib.experiments.services import ExperimentError, metrics_validate
from promptlib.prompts.models import Version
from promptlib.scorers.registry import SCORER_KINDS

MARGIN_PREFIX = "margin_"
MARGINS_HELP = (
    "A version wins only when every guardrail is shown to stay within its allowed worsening; pick how much "
    "worse each may get. Only the guardrails you chose above are used."
)
GUARDRAIL_HELP = (
    "Metrics that must not get worse while the primary one improves: tick them. The list holds the test "
    "batches' metrics, the application metrics registered in Experiments → Application metrics, and any "
    "other outcome your application has reported."
)
EXPERIMENT_HELP = {
    "template": "The prompt whose versions compete. It cannot change once the experiment exists.",
    "name": "A short name people recognise, e.g. “Shorter welcome email”.",
    "description": "Optional: what you are trying and why you expect it to win.",
    "guardrail_metrics": GUARDRAIL_HELP,
    "minimum_effect": (
        "The smallest difference worth detecting, in the primary metric's units. For a rate, 0.05 means "
        "5 percentage points (40% → 45%); for a time in ms, 200 means 200 ms. The smaller it is, the more "
        "test cases and users the experiment needs before it can name a winner. For a number your "
        "application reports (an order value…), leave 0.05 to use the one registered with the metric."
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


PRIMARY_LABEL = "What decides the winner"
PRIMARY_HELP = (
    "The one number that decides which version wins. The test batches' numbers come first; a number your "
    "application reports (sign-ups, complaints…) is listed once it is registered in Experiments → Application "
    "metrics, where you say whether higher or lower is better."
)


def primary_metric_help(*, unregistered: list[str]) -> str:
    """What the primary metric is, and which reported numbers must be registered before they can decide."""
    if not unregistered:
        return PRIMARY_HELP
    names = ", ".join(map(escape, unregistered[:10]))
    return f"{PRIMARY_HELP} Reported but not registered yet, so not listed: {names}."


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


MARGIN_METRICS = tuple(DEFAULT_MARGINS)
MARGIN_FIELDS = tuple(f"{MARGIN_PREFIX}{m}" for m in MARGIN_METRICS)


def _margin_field(metric: str) -> forms.ChoiceField:
    default = margin_text(metric=metric, value=DEFAULT_MARGINS[metric])
    return forms.ChoiceField(
        label=f"{METRICS[metric].label}: allowed worsening",
        choices=[("", f"Default ({default})"), *((str(v), text) for v, text in margin_choices(metric))],
        required=False,
        help_text=f"Used when {METRICS[metric].label.lower()} is a guardrail: a version may be this much worse "
        "than the control and still win, once shown to stay within it.",
    )


class VariantForm(forms.ModelForm):
    class Meta:
        model = Variant
        fields = ("key", "version", "weight", "is_control")
        help_texts = VARIANT_HELP


def metric_choices(*, registered: dict[str, str], reported: list[str], current: list[str]) -> list[tuple[str, str]]:
    """(name, what a marketer reads) for every metric an experiment can watch, each with its direction."""
    choices = {m.name: f"{m.label} ({direction_words(m.higher_is_better)})" for m in METRICS.values()}
    choices |= {name: label for name, label in registered.items() if name not in choices}
    for name in [*reported, *current]:
        choices.setdefault(name, f"{name} (reported; direction not set)")
    return list(choices.items())


def primary_metric_choices(*, registered: dict[str, str], current: str = "") -> list:
    """What may decide the winner, grouped and in plain words with its direction: the test batches'
    metrics, then the application's registered ones. A reported metric nobody registered has no
    direction, so it could never name a winner: it is not offered (unless it is already the one chosen)."""
    batch = [(m.name, f"{m.label} ({direction_words(m.higher_is_better)})") for m in METRICS.values()]
    application = [(name, label) for name, label in registered.items() if name not in METRICS]
    if current and current not in METRICS and current not in registered:
        application.append((current, f"{current} (reported; direction not set)"))
    groups: list = [("From test batches", batch)]
    if application:
        groups.append(("Reported by your application", application))
    return groups


# One choice field per metric a guardrail may watch, declared on a base so the admin's fieldsets know them.
MarginFields = type("MarginFields", (forms.Form,), {f"{MARGIN_PREFIX}{m}": _margin_field(m) for m in MARGIN_METRICS})


class ExperimentForm(MarginFields, forms.ModelForm):
    guardrail_metrics = forms.MultipleChoiceField(
        required=False, help_text=GUARDRAIL_HELP, widget=forms.CheckboxSelectMultiple
    )
    # Set by ExperimentAdmin.get_form: the outcome metric names reported in the experiment's project(s),
    # and those registered with a direction (offered first).
    outcome_metrics: list[str] = []
    registered_metrics: dict[str, str] = {}  # name → "Complaints (lower is better)"

    class Meta:
        model = Experiment
        fields = ("template", "name", "description", "primary_metric", "guardrail_metrics", "minimum_effect")
        # Also read by the admin for read-only fields (a started experiment's metrics, its status…).
        help_texts = {**EXPERIMENT_HELP, "primary_metric": PRIMARY_HELP}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for metric, value in (self.instance.guardrail_margins or {}).items():
            self.initial[f"{MARGIN_PREFIX}{metric}"] = str(value)
        if "guardrail_metrics" in self.fields:
            current = list(self.instance.guardrail_metrics or []) if self.instance.pk else []
            self.fields["guardrail_metrics"].choices = metric_choices(
                registered=self.registered_metrics, reported=self.outcome_metrics, current=current
            )
            self.initial["guardrail_metrics"] = current
        if "primary_metric" in self.fields:  # picked from a list: no code name to type
            current = self.instance.primary_metric if self.instance.pk else ""
            unregistered = [n for n in self.outcome_metrics if n not in METRICS and n not in self.registered_metrics]
            self.fields["primary_metric"] = forms.ChoiceField(
                label=PRIMARY_LABEL,
                choices=primary_metric_choices(registered=self.registered_metrics, current=current),
                initial=current or "task_success_rate",
                help_text=primary_metric_help(unregistered=unregistered),
            )

    @property
    def margins(self) -> dict[str, float | None]:
        """{metric: the picked margin, or None for the default} from the cleaned form."""
        picked = {m: self.cleaned_data.get(f"{MARGIN_PREFIX}{m}") for m in MARGIN_METRICS}
        return {m: float(v) if v else None for m, v in picked.items()}

    def clean_guardrail_metrics(self):
        return list(self.cleaned_data.get("guardrail_metrics") or [])

    def clean(self):
        cleaned = super().clean()
        metric = cleaned.get("primary_metric")
        template = cleaned.get("template") or (self.instance.template if self.instance.template_id else None)
        kept = self.instance.pk and metric == self.instance.primary_metric
        if (
            metric
            and template is not None
            and metric not in METRICS
            and not kept
            and metric not in application_metric_labels(project_ids=[template.project_id])
        ):
            self.add_error("primary_metric", "Choose a number registered in the template's project.")
        if "primary_metric" in cleaned and "guardrail_metrics" in cleaned:
            try:
                metrics_validate(
                    primary_metric=cleaned["primary_metric"], guardrail_metrics=cleaned["guardrail_metrics"]
                )
            except ExperimentError as exc:
                form_error_add(self, exc)
        return cleaned


# --- "Compare versions": an experiment from its template, no code names typed ---------------------------


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
    primary_metric = forms.ChoiceField(label=PRIMARY_LABEL, help_text=PRIMARY_HELP)
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

    def __init__(
        self, *args, template, datasets, suggestions, outcome_metrics: list[str], registered: dict[str, str], **kwargs
    ):
        super().__init__(*args, **kwargs)
        versions = Version.objects.filter(template=template).prefetch_related("labels").order_by("-number")
        self.fields["control"].queryset = self.fields["challenger"].queryset = versions
        self.fields["dataset"].queryset = datasets
        self.fields["scorer_kinds"].choices = [
            (s.kind, format_html("<strong>{}</strong>: {}", SCORER_KINDS[s.kind].label, s.why)) for s in suggestions
        ]
        self.fields["primary_metric"].choices = primary_metric_choices(registered=registered)
        guarded = metric_choices(registered=registered, reported=outcome_metrics, current=[])
        self.fields["guardrail_metrics"].choices = guarded
