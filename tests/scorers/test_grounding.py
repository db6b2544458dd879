"""Grounding counts of one call: expected sources and facts in the passages, citations in the answer."""

from promptlib.scorers.grounding import citation_counts, citations_find, context_counts

PASSAGES = [
    {
        "id": 12,
        "title": "Refunds",
        "source": "policies/refunds.md",
        "text": "Unopened bags: a full refund within 30 days.",
    },
    {"id": 15, "title": "Ethiopia Yirgacheffe", "source": "catalogue.csv", "text": "price: 16.00 EUR"},
]


def test_expected_sources_match_by_path_or_file_name():
    assert context_counts(expected_sources=["refunds.md", "catalogue.csv", "shipping.md"], expected_facts=[],
                          passages=PASSAGES) == (3, 2)  # fmt: skip


def test_a_fact_matches_its_words_in_order_ignoring_case_and_punctuation():
    facts = ["within 30 days", "16.00 EUR", "Full refund", "30 days within", "40 EUR"]
    # "16.00 EUR" → words 16 00 eur in "price: 16.00 EUR"; "30 days within" is out of order; 40 EUR absent
    assert context_counts(expected_sources=[], expected_facts=facts, passages=PASSAGES) == (5, 3)


def test_a_fact_split_across_two_passages_is_not_found():
    assert context_counts(expected_sources=[], expected_facts=["30 days price"], passages=PASSAGES) == (1, 0)


def test_without_passages_nothing_is_found():
    assert context_counts(expected_sources=["refunds.md"], expected_facts=["30 days"], passages=[]) == (2, 0)


def test_citations_are_ids_or_sources_in_brackets():
    answer = "Yes [12], see [#15] and [policies/refunds.md]; [sic] is not one, nor is [Anna]. Again [12]."
    assert citations_find(answer) == ["12", "15", "policies/refunds.md"]


def test_a_citation_is_valid_when_it_names_a_given_passage():
    answer = "Refunds within 30 days [12] [99] [catalogue.csv] [shipping.md]"
    assert citation_counts(answer=answer, passages=PASSAGES) == (4, 2)


def test_an_answer_without_citations_makes_none():
    assert citation_counts(answer="Within 30 days.", passages=PASSAGES) == (0, 0)
