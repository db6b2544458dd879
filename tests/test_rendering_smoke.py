from promptlib.rendering import render


def test_it_renders_the_documented_layout(welcome):
    out = render(welcome.versions.get(), {"name": "Bea"})
    assert [m["role"] for m in out.messages] == ["system", "user", "assistant", "user"]
    assert out.messages[0]["content"] == (
        "You are the voice of Acme.\n\n## Constraints\nNever promise discounts.\n\n"
        "## Output format\nPlain text, at most 120 words."
    )
    assert out.messages[-1]["content"] == "## Task\nWrite a welcome email to Bea."
