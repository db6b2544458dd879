"""VersionContent: what is hashed, and what counts as the same content."""

from promptlib.prompts.content import VersionContent


def test_its_hash_is_stable_across_runs(welcome_content):
    # A fixed value: a change here means every stored hash would stop matching its content.
    assert VersionContent(task="Hi {{ name }}").content_hash() == (
        VersionContent.from_dict({"task": "Hi {{ name }}"}).content_hash()
    )
    assert len(welcome_content.content_hash()) == 64


def test_its_hash_is_a_known_value():
    assert VersionContent(task="Hello").content_hash() == _expected_hash_of_hello()


def _expected_hash_of_hello() -> str:
    import hashlib
    import json

    canonical = {
        "constraints": "",
        "context": "",
        "examples": [],
        "format": "",
        "max_tokens": None,
        "model": "",
        "output_schema": None,
        "provider": "",
        "role": "",
        "task": "Hello",
        "temperature": None,
        "variables": [],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_its_hash_ignores_trailing_whitespace_and_line_endings():
    assert VersionContent(task="a\r\nb  \n").content_hash() == VersionContent(task="a\nb").content_hash()


def test_its_hash_depends_on_the_order_of_variables():
    one = VersionContent(task="x", variables=[{"name": "a", "type": "string"}, {"name": "b", "type": "string"}])
    two = VersionContent(task="x", variables=[{"name": "b", "type": "string"}, {"name": "a", "type": "string"}])
    assert one.content_hash() != two.content_hash()


def test_its_hash_changes_with_any_section():
    base = VersionContent(task="x").content_hash()
    for section in ("role", "context", "format", "constraints"):
        assert VersionContent(task="x", **{section: "y"}).content_hash() != base


def test_its_hash_changes_with_model_settings():
    assert VersionContent(task="x", temperature=0.2).content_hash() != VersionContent(task="x").content_hash()


def test_it_fills_variable_declarations_with_defaults():
    content = VersionContent(variables=[{"name": "a"}]).normalized()
    assert content.variables == [{"name": "a", "type": "string", "required": False, "default": None, "description": ""}]


def test_it_ignores_unknown_keys_from_a_dict():
    assert VersionContent.from_dict({"task": "x", "colour": "red"}) == VersionContent(task="x")


def test_it_treats_a_null_section_as_empty():
    assert VersionContent.from_dict({"task": "x", "role": None}).role == ""


def test_it_round_trips_through_a_dict(welcome_content):
    assert VersionContent.from_dict(welcome_content.to_dict()) == welcome_content
