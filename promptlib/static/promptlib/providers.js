// promptlib provider form: presets fill the fields; Test connection shows a verdict, the server's models
// to tick, and sets the structured-output mode the server takes. Plain DOM and fetch.
"use strict";

function providerField(name) {
  return document.getElementById(`id_${name}`);
}

function providerApplyPreset(select) {
  const presets = JSON.parse(select.dataset.presets || "[]");
  const preset = presets.find((p) => p.key === select.value);
  let help = document.getElementById("preset-help");
  if (!help) {
    // Under the field's own help text (Django's "id_preset_helptext"), where a reader looks for it.
    help = document.createElement("div");
    help.id = "preset-help";
    const below = document.getElementById("id_preset_helptext");
    if (below) below.append(help); else select.insertAdjacentElement("afterend", help);
  }
  help.textContent = preset ? preset.help : "";
  if (!preset) return;
  const set = (name, value) => { const field = providerField(name); if (field) field.value = value; };
  set("kind", preset.kind);
  set("base_url", preset.base_url);
  set("structured_output", preset.structured_output);
  const name = providerField("name");
  if (name && !name.value) name.value = preset.name;
  const models = providerField("models");
  if (models && !models.value && preset.models.length) models.value = preset.models.join(", ");
}

function providerModelNames() {
  const field = providerField("models");
  return field ? field.value.split(",").map((m) => m.trim()).filter(Boolean) : [];
}

function providerShowModels(box, models) {
  box.replaceChildren();
  if (!models.length) return;
  const lead = document.createElement("p");
  lead.textContent = "Models on this server — tick the ones to offer:";
  box.append(lead);
  const chosen = new Set(providerModelNames());
  models.forEach((model) => {
    const label = document.createElement("label");
    label.className = "promptlib-probe-model";
    label.style.cssText = "display: inline-block; margin: 0 14px 6px 0;";
    const tick = document.createElement("input");
    tick.type = "checkbox";
    tick.value = model;
    tick.checked = chosen.has(model);
    tick.addEventListener("change", () => {
      const names = providerModelNames().filter((m) => m !== model);
      if (tick.checked) names.push(model);
      providerField("models").value = names.join(", ");
    });
    label.append(tick, ` ${model}`);
    box.append(label);
  });
}

async function providerProbe(panel) {
  const verdict = document.getElementById("probe-verdict");
  const structured = document.getElementById("probe-structured");
  const models = document.getElementById("probe-models");
  verdict.textContent = "Testing…";
  structured.textContent = "";
  models.replaceChildren();
  const form = panel.closest("form");
  try {
    const response = await fetch(panel.dataset.url, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    const result = await response.json();
    verdict.textContent = result.verdict;
    verdict.dataset.ok = result.ok ? "yes" : "no";
    providerShowModels(models, result.models || []);
    if (result.structured_output && providerField("structured_output")) {
      providerField("structured_output").value = result.structured_output;
    }
    structured.textContent = result.structured_note || "";
  } catch (err) {
    verdict.textContent = `The test could not run: ${err.message}`;
    verdict.dataset.ok = "no";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const preset = providerField("preset");
  if (preset) preset.addEventListener("change", () => providerApplyPreset(preset));
  const panel = document.getElementById("probe");
  if (panel) document.getElementById("probe-button").addEventListener("click", () => providerProbe(panel));
});
