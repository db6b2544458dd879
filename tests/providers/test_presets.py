"""Provider presets: each fills a form that saves as it is (local servers need no key), and the add page offers them."""

import json

import pytest
from django.urls import reverse

from promptlib.providers.models import ProviderConfig
from promptlib.providers.presets import PRESETS, PRESETS_BY_KEY


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_each_preset_saves_as_a_valid_provider(acme, preset):
    config = ProviderConfig(
        project=acme, name=preset.name, kind=preset.kind, base_url=preset.base_url,
        structured_output=preset.structured_output, models=list(preset.models),
    )  # fmt: skip
    if preset.needs_key:
        config.api_key_store("sk-test-0123456789abcdef")
    config.full_clean()  # raises, naming the field, if a preset's address or setting is refused


def test_the_local_server_presets_point_at_this_machine():
    for key in ("ollama", "vllm", "lmstudio", "llamacpp"):
        preset = PRESETS_BY_KEY[key]
        assert preset.base_url.startswith("http://localhost:") and preset.base_url.endswith("/v1")
        assert not preset.needs_key and preset.kind == "openai"


def test_the_add_page_offers_the_presets_with_what_they_fill(client, alice):
    client.force_login(alice)
    page = client.get(reverse("admin:promptlib_providerconfig_add")).content.decode()
    for preset in PRESETS:
        assert f'<option value="{preset.key}">{preset.label}</option>' in page
    assert 'id="probe-button"' in page and "promptlib/providers.js" in page


def test_the_presets_data_the_page_carries_is_what_the_form_needs(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:promptlib_providerconfig_add"))
    widget = response.context["adminform"].form.fields["preset"].widget
    carried = {p["key"]: p for p in json.loads(widget.attrs["data-presets"])}
    assert carried["ollama"]["base_url"] == "http://localhost:11434/v1"
    assert carried["demo"]["kind"] == "demo" and carried["demo"]["models"] == ["demo-small"]
