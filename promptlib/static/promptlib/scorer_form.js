// Scorer form: show only the chosen kind's options, and try the check on a sample answer.
"use strict";

function promptlibScorerKind() {
  const kind = document.getElementById("id_kind");
  return kind ? kind.value : "";
}

function promptlibShowKindOptions() {
  const kind = promptlibScorerKind();
  const rows = document.querySelectorAll(".promptlib-scorer-options .form-row");
  let shown = 0;
  rows.forEach((row) => {
    const field = [...row.classList].find((c) => c.startsWith("field-opt_"));
    const mine = field && field.startsWith(`field-opt_${kind}__`);
    row.hidden = !mine;
    if (mine) shown += 1;
  });
  const box = document.querySelector("fieldset.promptlib-scorer-options");
  if (box) box.hidden = shown === 0;
}

async function promptlibTryScorer() {
  const box = document.getElementById("scorer-try");
  const result = document.getElementById("try-result");
  const form = box.closest("form");
  const data = new FormData(form);
  data.set("sample", document.getElementById("try-sample").value);
  data.set("expected", document.getElementById("try-expected").value);
  result.textContent = "Checking…";
  result.className = "promptlib-try-result";
  try {
    const response = await fetch(box.dataset.url, { method: "POST", body: data, credentials: "same-origin" });
    const body = await response.json();
    if (!body.ok) {
      result.textContent = body.errors.map((e) => (e.label ? `${e.label}: ${e.message}` : e.message)).join(" ");
      result.classList.add("errornote");
      return;
    }
    const verdict = body.passed === true ? "Passes" : body.passed === false ? "Fails" : "No verdict";
    result.textContent = `${verdict}: ${body.detail}`;
    result.classList.add(body.passed === false ? "promptlib-try-fail" : "promptlib-try-pass");
  } catch (err) {
    result.textContent = "The check could not be tried; please try again.";
  }
}

function promptlibSuggestName(previousKind) {
  // A new check is named after its kind until the user types a name of their own.
  const name = document.getElementById("id_name");
  if (name && (!name.value || name.value === previousKind)) name.value = promptlibScorerKind();
}

document.addEventListener("DOMContentLoaded", () => {
  const kind = document.getElementById("id_kind");
  let previous = kind ? kind.value : "";
  if (kind) {
    kind.addEventListener("change", () => {
      promptlibShowKindOptions();
      promptlibSuggestName(previous);
      previous = kind.value;
    });
  }
  promptlibShowKindOptions();
  const button = document.getElementById("try-button");
  if (button) button.addEventListener("click", promptlibTryScorer);
});
