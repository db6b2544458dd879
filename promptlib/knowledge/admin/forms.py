"""The knowledge admin's forms: plain boxes, words separated by commas, no JSON."""

from __future__ import annotations

from django import forms

from promptlib.knowledge.chunking import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from promptlib.knowledge.selectors import MAX_TOP_K

MODE_CHOICES = [
    ("keyword", "Words (full-text search)"),
    ("semantic", "Meaning (needs an embedding provider)"),
    ("hybrid", "Both, combined"),
]


def words(text: str) -> list[str]:
    return [t.strip() for t in (text or "").replace(";", ",").split(",") if t.strip()]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files",
        help_text="One or more .txt, .md, .html, .csv or .pdf files (up to 20 MB each). "
        "A file with the name of a document already here replaces it (the old one stays in earlier snapshots).",
    )
    folder = forms.CharField(
        required=False,
        max_length=200,
        help_text="Optional: a folder to put them in, e.g. policies (it becomes part of their name).",
    )
    title = forms.CharField(required=False, max_length=300, help_text="Optional, for a single file: its title.")
    tags = forms.CharField(
        required=False,
        max_length=500,
        help_text="Optional: words separated by commas, e.g. policy, eu. A search can be limited to some tags.",
    )


class PreviewForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        max_length=200_000,
        help_text="Paste some text (Markdown headings start new sections) to see how it is cut. Nothing is saved.",
    )
    chunk_size = forms.IntegerField(min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, label="Passage size")
    chunk_overlap = forms.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, label="Overlap")


class SearchForm(forms.Form):
    query = forms.CharField(
        max_length=4000, widget=forms.TextInput(attrs={"size": 60}), label="Question",
        help_text="Type a question as a customer would ask it.",
    )  # fmt: skip
    snapshot = forms.TypedChoiceField(coerce=int, label="Snapshot", required=False, empty_value=None)
    mode = forms.ChoiceField(choices=MODE_CHOICES, initial="keyword", label="Match by")
    top_k = forms.IntegerField(min_value=1, max_value=MAX_TOP_K, initial=4, label="How many passages")
    tags = forms.CharField(required=False, max_length=500, help_text="Optional: only passages with one of these tags.")

    def __init__(self, *args, snapshots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].choices = [("", "Latest")] + [(s.number, f"#{s.number}") for s in snapshots]


class PublishForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=2000, label="Note", help_text="Optional: what changed, e.g. new refund policy."
    )
