"""Forms behind the template editor: plain fields and row formsets in, a VersionContent out.

The forms only translate between what a marketer types and VersionContent; whether content is
valid is decided by promptlib.prompts.rendering.validate_content, whose errors are put on the field
(section, example row, variable row) that they name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from promptlib.prompts.content import (
    MODEL_FIELDS,
    RETRIEVAL_DEFAULT_LABEL,
    RETRIEVAL_MODES,
    RETRIEVAL_TOP_K_MAX,
    SECTIONS,
    VersionContent,
)
from promptlib.prompts.models import Template
from promptlib.prompts.rendering import MAX_NESTING, VARIABLE_TYPES, PromptError, PromptErrors, validate_content
from promptlib.prompts.retrieval import retrieval_check
from promptlib.prompts.selectors import version_latest

SECTION_HELP = {
    "role": "Who the assistant is: voice, persona, brand. Sent first, as the system message.",
    "task": "What to do this time. Sent as the user message, after the context.",
    "context": "Background facts the assistant needs. Sent in the user message, before the task.",
    "format": "How the answer should look (length, structure). Added to the system message.",
    "constraints": "What the assistant must never or always do. Added to the system message.",
}
ROWS_NEED_FIXING = "Some examples or variables need fixing; see the highlighted rows."
_EXAMPLE_FIELD = re.compile(r"examples\[(\d+)\]\.(input|output)")


def parse_value(kind: str, raw: str) -> Any:
    """Turn what was typed into a value of the variable's type; ValueError says what is wrong."""
    raw = raw.strip()
    if kind == "string":
        return raw
    if kind == "boolean":
        if raw.lower() in ("true", "yes", "1", "on"):
            return True
        if raw.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError("Type true or false.")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number.")
    if kind == "number":
        try:
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number.")
    if kind == "list" and not raw.startswith("["):  # as in a CSV cell: "a; b; c", no JSON to type
        return [part.strip() for part in raw.split(";") if part.strip()]
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Not valid JSON ({exc.msg}); a {kind} looks like {'[…]' if kind == 'list' else '{…}'}.")
    except RecursionError:  # Python's JSON parser gives up a few hundred levels down
        raise ValueError(f"This {kind} nests too deeply (at most {MAX_NESTING} levels).")
    expected = list if kind == "list" else dict
    if not isinstance(value, expected):
        raise ValueError(f"Expected a {kind}, written as {'[…]' if kind == 'list' else '{…}'} in JSON.")
    return value


def format_value(value: Any) -> str:
    """The inverse of parse_value, for pre-filling inputs."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def friendly_field(message: str) -> str:
    return _EXAMPLE_FIELD.sub(lambda m: f"example {int(m[1]) + 1} {m[2]}", message)


class ExampleForm(forms.Form):
    input = forms.CharField(required=False, label="Example input", widget=forms.Textarea(attrs={"rows": 3, "cols": 50}))
    output = forms.CharField(required=False, label="Ideal output", widget=forms.Textarea(attrs={"rows": 3, "cols": 50}))


class VariableForm(forms.Form):
    name = forms.CharField(max_length=80, required=False, widget=forms.TextInput(attrs={"size": 16}))
    type = forms.ChoiceField(choices=[(t, t) for t in VARIABLE_TYPES], initial="string")
    required = forms.BooleanField(required=False)
    default = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 20}),
        help_text="Used when the application sends no value.",
    )
    description = forms.CharField(required=False, widget=forms.TextInput(attrs={"size": 30}))

    def clean(self):
        cleaned = super().clean()
        raw = cleaned.get("default", "")
        cleaned["default_value"] = None
        if not (cleaned.get("name") or "").strip() and (raw.strip() or cleaned.get("description")):
            self.add_error("name", "Give the variable a name, or clear the row.")
        if raw.strip() and cleaned.get("type"):
            try:
                cleaned["default_value"] = parse_value(cleaned["type"], raw)
            except ValueError as exc:
                self.add_error("default", str(exc))
        return cleaned


ExampleFormSet = forms.formset_factory(ExampleForm, extra=1, can_delete=True)
VariableFormSet = forms.formset_factory(VariableForm, extra=1, can_delete=True)


def _live_rows(formset, *keys: str) -> list[forms.Form]:
    """Rows with something in one of `keys` and not ticked for deletion, in order."""
    rows = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None) or {}
        if not data.get("DELETE") and any((data.get(key) or "").strip() for key in keys):
            rows.append(form)
    return rows


def _section(name: str, *, rows: int) -> forms.CharField:
    """A section's editor: admin.js makes it grow with its text and marks the {{ variables }} in it."""
    widget = forms.Textarea(attrs={"rows": rows, "class": "promptlib-section"})
    return forms.CharField(required=False, widget=widget, help_text=SECTION_HELP[name])


MODE_LABELS = {
    "keyword": "Words (full-text search)",
    "semantic": "Meaning (needs an embedding provider)",
    "hybrid": "Both words and meaning",
}
# The retrieval block's form fields: retrieval_<option> ⇄ content.retrieval[<option>].
RETRIEVAL_FORM_FIELDS = ("knowledge_base", "snapshot", "label", "query", "top_k", "mode", "tags")


class VersionContentForm(forms.Form):
    """The content of a version: five sections, examples, variables, model settings, schema, knowledge base."""

    role = _section("role", rows=4)
    task = _section("task", rows=4)
    context = _section("context", rows=4)
    format = _section("format", rows=3)
    constraints = _section("constraints", rows=3)
    provider = forms.CharField(required=False, max_length=80, help_text="e.g. openai, anthropic.")
    model = forms.CharField(required=False, max_length=200, help_text="e.g. gpt-4o-mini.")
    temperature = forms.FloatField(
        required=False, min_value=0, max_value=2, help_text="0 = predictable, higher = more varied."
    )
    max_tokens = forms.IntegerField(required=False, min_value=1, help_text="Upper limit on the answer's length.")
    output_schema = forms.CharField(
        required=False,
        label="Output JSON schema",
        widget=forms.Textarea(attrs={"rows": 4, "class": "promptlib-code"}),
        help_text='Optional. A JSON Schema the answer must follow, e.g. {"type": "object"}.',
    )
    retrieval_knowledge_base = forms.SlugField(
        required=False,
        max_length=80,
        label="Knowledge base",
        help_text="Optional. The name of one of this project's knowledge bases, e.g. coffee-shop. Its passages "
        "fill the variable <code>knowledge</code>: use <code>{% for k in knowledge %}{{ k.text }}{% endfor %}</code> "
        "in the context. Leave empty to use none.",
    )
    retrieval_query = forms.CharField(
        required=False,
        label="Search for",
        widget=forms.Textarea(attrs={"rows": 1, "class": "promptlib-section"}),
        help_text="What to look up, from the variables, e.g. <code>{{ customer_message }}</code>.",
    )
    retrieval_top_k = forms.IntegerField(
        required=False, min_value=1, max_value=RETRIEVAL_TOP_K_MAX, initial=4, label="Passages",
        help_text=f"How many passages to put in the prompt (1–{RETRIEVAL_TOP_K_MAX}).",
    )  # fmt: skip
    retrieval_mode = forms.ChoiceField(
        required=False, choices=[(m, MODE_LABELS[m]) for m in RETRIEVAL_MODES], initial="keyword", label="Match by"
    )
    retrieval_snapshot = forms.IntegerField(
        required=False, min_value=1, label="Pin snapshot number",
        help_text="Optional. Pin one published snapshot (1, 2, 3…) so tests stay reproducible; empty follows the "
        "label below.",
    )  # fmt: skip
    retrieval_label = forms.SlugField(
        required=False, max_length=60, initial=RETRIEVAL_DEFAULT_LABEL, label="Follow label",
        help_text="Without a pinned snapshot: the snapshot this label names (latest = the newest publish).",
    )  # fmt: skip
    retrieval_tags = forms.CharField(
        required=False, label="Only passages tagged",
        help_text="Optional. Tags separated by commas, e.g. policy, catalogue.",
    )  # fmt: skip
    change_note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What you changed and why; shown in the version list.",
    )

    content_fields = (*SECTIONS, *MODEL_FIELDS)

    def __init__(self, *args, content: VersionContent | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.content: VersionContent | None = None  # set by a successful clean()
        self.initial_content = content
        if content is not None:
            for name in self.content_fields[:-1]:
                self.initial.setdefault(name, getattr(content, name))
            schema = content.output_schema
            self.initial.setdefault("output_schema", json.dumps(schema, indent=2) if schema else "")
            for name, value in (content.retrieval or {}).items():
                if name in RETRIEVAL_FORM_FIELDS:
                    shown = ", ".join(value) if name == "tags" else value
                    self.initial.setdefault(f"retrieval_{name}", shown)
        data = self.data if self.is_bound else None
        self.examples_formset = ExampleFormSet(data, prefix="examples", initial=content.examples if content else None)
        variables = content.variables if content else []
        self.variables_formset = VariableFormSet(
            data, prefix="variables", initial=[{**v, "default": format_value(v.get("default"))} for v in variables]
        )

    def clean_output_schema(self):
        raw = self.cleaned_data.get("output_schema", "").strip()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"This is not valid JSON: {exc.msg} on line {exc.lineno}, column {exc.colno}.")
        except RecursionError:  # Python's JSON parser gives up a few hundred levels down
            raise ValidationError(f"This nests too deeply (at most {MAX_NESTING} levels).")

    def retrieval_block(self, cleaned: dict) -> dict | None:
        """The retrieval block the form describes; None without a knowledge base."""
        name = (cleaned.get("retrieval_knowledge_base") or "").strip()
        if not name:
            return None
        tags = [t.strip() for t in (cleaned.get("retrieval_tags") or "").split(",") if t.strip()]
        previous = (self.initial_content.retrieval or {}) if self.initial_content else {}
        return {
            "knowledge_base": name,
            "snapshot": cleaned.get("retrieval_snapshot"),
            "label": cleaned.get("retrieval_label") or RETRIEVAL_DEFAULT_LABEL,
            "query": cleaned.get("retrieval_query") or "",
            "top_k": cleaned.get("retrieval_top_k") or 4,
            "mode": cleaned.get("retrieval_mode") or "keyword",
            "tags": tags,
            "min_score": previous.get("min_score"),  # set through the API or a file; kept as it was
        }

    def clean(self):
        cleaned = super().clean()
        rows_valid = self.examples_formset.is_valid() & self.variables_formset.is_valid()
        if not rows_valid:
            raise ValidationError(ROWS_NEED_FIXING)
        if any(name in self._errors for name in self.content_fields):
            return cleaned
        examples = _live_rows(self.examples_formset, "input", "output")
        variables = _live_rows(self.variables_formset, "name")
        content = VersionContent(
            **{name: cleaned.get(name) for name in self.content_fields if name not in ("provider", "model")},
            provider=cleaned.get("provider") or "",
            model=cleaned.get("model") or "",
            examples=[{"input": f.cleaned_data["input"], "output": f.cleaned_data["output"]} for f in examples],
            variables=[
                {
                    "name": f.cleaned_data["name"].strip(),
                    "type": f.cleaned_data["type"],
                    "required": f.cleaned_data["required"],
                    "default": f.cleaned_data["default_value"],
                    "description": f.cleaned_data["description"],
                }
                for f in variables
            ],
            retrieval=self.retrieval_block(cleaned),
        )
        try:
            validate_content(content)
        except PromptError as exc:
            self._attach(exc.errors if isinstance(exc, PromptErrors) else [exc], examples, variables)
        else:
            self.content = content
        return cleaned

    def _attach(self, errors: list[PromptError], examples: list[forms.Form], variables: list[forms.Form]) -> None:
        """Put each problem on the field it names, so it shows next to the text to fix."""
        in_rows = False
        for error in errors:
            message = friendly_field(error.message)
            example = _EXAMPLE_FIELD.fullmatch(error.field)
            variable = re.fullmatch(r"variables\[(\d+)\]", error.field)
            retrieval_field = "retrieval_" + error.field.removeprefix("retrieval.")
            if error.field in self.content_fields:
                self.add_error(error.field, message)
            elif error.field.startswith("retrieval.") and retrieval_field in self.fields:
                self.add_error(retrieval_field, message)
            elif example:
                examples[int(example[1])].add_error(example[2], message)
                in_rows = True
            elif variable:
                variables[int(variable[1])].add_error("name", message)
                in_rows = True
            else:
                self.add_error(None, message)
        if in_rows:
            self.add_error(None, ROWS_NEED_FIXING)


class TemplateForm(VersionContentForm, forms.ModelForm):
    """Template details plus the content of its next version (pre-filled from the latest)."""

    tags = forms.CharField(required=False, help_text="Short words separated by commas, e.g. email, onboarding.")

    class Meta:
        model = Template
        fields = ["project", "slug", "title", "description", "tags"]
        help_texts = {
            "slug": "The name applications use to fetch this prompt, e.g. welcome-email. Cannot change later.",
            "title": "A human-friendly name.",
        }

    def __init__(self, *args, **kwargs):
        instance = kwargs.get("instance")
        latest = version_latest(template=instance) if instance is not None and instance.pk else None
        super().__init__(*args, content=VersionContent.from_obj(latest) if latest else None, **kwargs)
        self.latest_version = latest
        if instance is not None and instance.pk:
            self.initial["tags"] = ", ".join(instance.tags or [])

    def clean(self):
        cleaned = super().clean()
        project = cleaned.get("project") or getattr(self.instance, "project", None)
        if self.content is not None and self.content.retrieval and project is not None:
            try:
                retrieval_check(project_id=project.pk, block=self.content.retrieval)
            except PromptError as exc:
                self.content = None
                self._attach([exc], [], [])
        return cleaned

    def clean_tags(self) -> list[str]:
        words = [word.strip() for word in self.cleaned_data.get("tags", "").split(",")]
        return list(dict.fromkeys(word for word in words if word))
