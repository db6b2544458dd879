"""Grounding of one call with retrieval: what the passages held, and what the answer cited.

Plain functions over plain values, the one definition the batch runner records per call and the
retrieval metrics sum (promptlib.experiments.metrics: context_recall, retrieval_hit_rate,
citation_validity):

- context_counts: of a case's expected sources and expected facts, how many the retrieved passages
  hold. A source is held when a passage's source is it, or ends with "/" + it ("refunds.md" names
  "policies/refunds.md"); a fact when its words appear, in order, in one passage's title and text
  (case, punctuation and spacing ignored).
- citation_counts: the citations in an answer — [12] or [#12] (a passage id) and [policies/refunds.md]
  (a source: has a "." or "/") — and how many name a retrieved passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_WORDS = re.compile(r"\w+", re.UNICODE)
_CITATION = re.compile(r"\[\s*(?:#|chunk\s*|passage\s*|source:\s*)?([^\[\]\s][^\[\]]{0,200}?)\s*\]", re.IGNORECASE)


def _words(text: str) -> str:
    return " " + " ".join(_WORDS.findall((text or "").casefold())) + " "


def source_matches(expected: str, source: str) -> bool:
    expected, source = expected.strip().casefold(), (source or "").strip().casefold()
    return bool(expected) and (source == expected or source.endswith("/" + expected.lstrip("/")))


def context_counts(
    *, expected_sources: Sequence[str], expected_facts: Sequence[str], passages: Iterable[dict[str, Any]]
) -> tuple[int, int]:
    """(expected, found): expected sources and facts of the case, and how many the passages hold."""
    passages = list(passages)
    sources = [p.get("source", "") for p in passages]
    texts = [_words(f"{p.get('title', '')} {p.get('text', '')}") for p in passages]
    found = sum(any(source_matches(s, src) for src in sources) for s in expected_sources)
    for fact in expected_facts:
        words = _words(fact)
        found += bool(words.strip()) and any(words in text for text in texts)
    return len(expected_sources) + len(expected_facts), found


def citations_find(answer: str) -> list[str]:
    """The bracketed citations of an answer, in order, each once: ids as digits, sources as written."""
    found: list[str] = []
    for match in _CITATION.finditer(answer or ""):
        token = match.group(1).strip()
        if not (token.isdigit() or "." in token or "/" in token):
            continue  # [sic], [Name]: not a citation
        if token not in found:
            found.append(token)
    return found


def citation_counts(*, answer: str, passages: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """(made, valid): the answer's citations, and how many name a passage it was given."""
    passages = list(passages)
    ids = {str(p.get("id")) for p in passages}
    sources = [p.get("source", "") for p in passages]
    cited = citations_find(answer)
    valid = sum(token in ids if token.isdigit() else any(source_matches(token, s) for s in sources) for token in cited)
    return len(cited), valid
