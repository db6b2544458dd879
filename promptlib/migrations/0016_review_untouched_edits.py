"""Reviews saved before edits were measured on meaning: an untouched approval stored the browser's copy of the
answer (CRLF line endings, no trailing newline) as an edit. Those copies are cleared, so "answers needing an
edit" counts only real edits and exports carry the model's own text. Real edits are kept, with LF endings.

The comparison is promptlib.batches.reviews.review_text_normalised, copied here as migrations must not
follow later changes of the code.
"""

import re

from django.db import migrations

_LINE_END = re.compile(r"\r\n?")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def _normalised(text: str) -> str:
    return _TRAILING_SPACE.sub("", _LINE_END.sub("\n", text)).rstrip()


def clear_untouched_edits(apps, schema_editor):
    Review = apps.get_model("promptlib", "Review")
    edited = Review.objects.exclude(edited_output="").select_related("result").order_by("pk")
    for review in edited.iterator(chunk_size=500):
        text = review.edited_output
        if not text.strip() or _normalised(text) == _normalised(review.result.output):
            review.edited_output = ""
        elif "\r" in text:
            review.edited_output = _LINE_END.sub("\n", text)
        else:
            continue
        review.save(update_fields=["edited_output"])


class Migration(migrations.Migration):
    dependencies = [("promptlib", "0015_judge_calibration_review_cost")]

    operations = [migrations.RunPython(clear_untouched_edits, migrations.RunPython.noop)]
