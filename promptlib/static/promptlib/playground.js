// promptlib playground: run the draft or saved versions on a model, side by side, the answers streamed in.
// Plain DOM and fetch (a POST's streamed body, read as server-sent events); nothing from the network.
"use strict";

const pg = {
  panel: null,
  setup: null,
  columns: [],
};

function pgCsrf() {
  const token = document.querySelector("input[name=csrfmiddlewaretoken]");
  return token ? token.value : "";
}

function pgOption(select, value, text, selected = false) {
  const option = document.createElement("option");
  option.value = value;
  option.textContent = text;
  option.selected = selected;
  select.append(option);
}

function pgFillModels(column, wanted) {
  const provider = pg.setup.providers.find((p) => String(p.id) === column.provider.value);
  const models = provider ? [...provider.models] : [];
  if (wanted && !models.includes(wanted)) models.unshift(wanted);
  column.model.replaceChildren();
  models.forEach((name) => pgOption(column.model, name, name, name === wanted));
  if (!models.length) pgOption(column.model, "", "(no model listed: add one to the provider)");
}

function pgFillDatasets(column, chosen) {
  // Offers the project's datasets and a new one; `chosen` is a dataset id, or "" for a new dataset.
  const select = column.saveDataset;
  select.replaceChildren();
  pg.setup.datasets.forEach((d) => pgOption(select, String(d.id), d.name));
  pgOption(select, "", "New dataset…");
  select.value = chosen;
  column.newDataset.hidden = select.value !== "";
}

function pgAddColumn() {
  if (pg.columns.length >= pg.setup.max_columns) return;
  const node = document.getElementById("pg-column-template").content.firstElementChild.cloneNode(true);
  const column = {
    node,
    version: node.querySelector(".pg-version"),
    provider: node.querySelector(".pg-provider"),
    model: node.querySelector(".pg-model"),
    answer: node.querySelector(".promptlib-pg-answer"),
    retrieved: node.querySelector(".promptlib-pg-retrieved"),
    stats: node.querySelector(".promptlib-pg-stats"),
    save: node.querySelector(".promptlib-pg-save"),
    saveDataset: node.querySelector(".pg-save-dataset"),
    newDataset: node.querySelector(".pg-new-dataset"),
    saveName: node.querySelector(".pg-save-name"),
    expected: node.querySelector(".pg-expected"),
    saveStatus: node.querySelector(".pg-save-status"),
  };
  const index = pg.columns.length;
  column.node.dataset.column = String(index + 1);
  // The first column tries the draft (or the latest version on a read-only page); the next ones older versions.
  const options = [...column.version.options];
  const hasDraft = Boolean(document.querySelector('table[data-prefix="variables"]'));
  if (!hasDraft) options[0].remove();
  const pick = Math.min(index, column.version.options.length - 1);
  column.version.selectedIndex = Math.max(pick, 0);
  pg.setup.providers.forEach((p) => pgOption(column.provider, String(p.id), p.label, p.id === pg.setup.provider));
  pgFillModels(column, pg.setup.model);
  column.provider.addEventListener("change", () => pgFillModels(column, ""));
  column.saveName.value = pg.setup.new_dataset;
  pgFillDatasets(column, pg.setup.dataset === null ? "" : String(pg.setup.dataset));
  column.saveDataset.addEventListener("change", () => { column.newDataset.hidden = column.saveDataset.value !== ""; });
  node.querySelector(".pg-save-button").addEventListener("click", () => pgSaveCase(column));
  node.querySelector(".pg-remove").addEventListener("click", () => {
    pg.columns = pg.columns.filter((c) => c !== column);
    node.remove();
    pgRefreshButtons();
  });
  pg.columns.push(column);
  document.getElementById("pg-columns").append(node);
  pgRefreshButtons();
}

function pgRefreshButtons() {
  pg.columns.forEach((c) => { c.node.querySelector(".pg-remove").hidden = pg.columns.length < 2; });
  document.getElementById("pg-add-column").hidden = pg.columns.length >= pg.setup.max_columns;
}

function pgInputs() {
  const box = document.getElementById("pg-inputs");
  if (typeof promptlibSyncInputs === "function") promptlibSyncInputs(box);
  return box;
}

function pgFormData(column) {
  // What a run (or a saved case) is about: the draft's fields or a version number, and the inputs.
  const data = new FormData();
  const editor = document.getElementById("template_form");
  if (column.version.value === "" && editor) {
    new FormData(editor).forEach((value, key) => data.append(key, value));
  } else {
    data.append("version", column.version.value);
  }
  data.set("csrfmiddlewaretoken", pgCsrf());
  pgInputs().querySelectorAll("input").forEach((input) => data.append(input.name, input.value));
  return data;
}

function pgShowErrors(column, errors) {
  column.answer.classList.add("failed");
  column.answer.textContent = errors.map((e) => e.message).join("\n");
}

function pgStats(done) {
  const parts = [];
  if (done.input_tokens || done.output_tokens) parts.push(`${done.input_tokens} in + ${done.output_tokens} out tokens`);
  parts.push(`${(done.latency_ms / 1000).toFixed(1)} s`);
  if (done.first_token_ms !== null) parts.push(`first words after ${(done.first_token_ms / 1000).toFixed(1)} s`);
  parts.push(done.cost_known ? `$${done.cost_usd.toFixed(6)}` : "cost unknown (no price for this model)");
  return parts.join(" · ");
}

function pgShowRetrieved(column, event) {
  // What the knowledge base gave the prompt: each passage's title, source and score, its text on opening.
  const box = column.retrieved;
  const count = event.passages.length;
  box.querySelector("summary").textContent = count
    ? `${count} passage${count === 1 ? "" : "s"} from ${event.knowledge_base} for “${event.query}”`
    : `Nothing found in ${event.knowledge_base} for “${event.query}”`;
  const list = box.querySelector("ol");
  list.replaceChildren(...event.passages.map((p) => {
    const item = document.createElement("li");
    const head = document.createElement("strong");
    head.textContent = `[${p.id}] ${p.title || "(untitled)"}`;
    const where = document.createElement("span");
    where.className = "promptlib-pg-source";
    where.textContent = ` ${p.source} · score ${Number(p.score).toFixed(3)}`;
    const text = document.createElement("p");
    text.textContent = p.text;
    item.append(head, where, text);
    return item;
  }));
  box.hidden = false;
}

function pgEvent(column, event) {
  if (event.type === "retrieved") {
    pgShowRetrieved(column, event);
  } else if (event.type === "delta") {
    column.answer.textContent += event.text;
  } else if (event.type === "done") {
    column.answer.textContent = event.text;
    column.stats.textContent = pgStats(event);
    column.expected.value = event.text;
    column.save.hidden = false;
  } else if (event.type === "error") {
    pgShowErrors(column, [{ message: event.message }]);
  }
}

async function pgRunColumn(column) {
  column.answer.classList.remove("failed");
  column.answer.textContent = "";
  column.retrieved.hidden = true;
  column.stats.textContent = "Waiting for the model…";
  column.save.hidden = true;
  column.saveStatus.textContent = "";
  column.node.dataset.state = "running";
  const data = pgFormData(column);
  data.append("provider", column.provider.value);
  data.append("model", column.model.value);
  try {
    const response = await fetch(pg.panel.dataset.runUrl, { method: "POST", body: data, credentials: "same-origin" });
    if (!response.ok) {
      let errors = [{ message: `The run failed (HTTP ${response.status}).` }];
      try { errors = (await response.json()).errors || errors; } catch (err) { /* not JSON */ }
      column.stats.textContent = "";
      pgShowErrors(column, errors);
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const line = block.split("\n").find((l) => l.startsWith("data: "));
        if (line) pgEvent(column, JSON.parse(line.slice(6)));
      }
    }
    if (column.stats.textContent === "Waiting for the model…") column.stats.textContent = "";
  } catch (err) {
    column.stats.textContent = "";
    pgShowErrors(column, [{ message: `The run failed: ${err.message}` }]);
  } finally {
    column.node.dataset.state = "finished";
  }
}

async function pgSaveCase(column) {
  const data = pgFormData(column);
  data.append("dataset", column.saveDataset.value);
  data.append("dataset_name", column.saveName.value);
  data.append("expected_output", column.expected.value);
  column.saveStatus.textContent = "Saving…";
  try {
    const response = await fetch(pg.panel.dataset.saveUrl, { method: "POST", body: data, credentials: "same-origin" });
    const result = await response.json();
    if (!result.ok) {
      column.saveStatus.textContent = (result.errors || []).map((e) => e.message).join(" ");
      return;
    }
    column.saveStatus.textContent = result.message;
    if (!pg.setup.datasets.some((d) => d.id === result.dataset.id)) {
      // A new dataset: from now on every column saves into it.
      pg.setup.datasets.push(result.dataset);
      pg.setup.dataset = result.dataset.id;
      pgOption(document.getElementById("pg-dataset"), String(result.dataset.id), result.dataset.name);
      pg.columns.forEach((c) => pgFillDatasets(c, String(result.dataset.id)));
    }
  } catch (err) {
    column.saveStatus.textContent = `Not saved: ${err.message}`;
  }
}

async function pgLoadCases() {
  const dataset = document.getElementById("pg-dataset").value;
  const select = document.getElementById("pg-case");
  select.replaceChildren();
  select.hidden = !dataset;
  if (!dataset) return;
  const response = await fetch(`${pg.panel.dataset.casesUrl}?dataset=${encodeURIComponent(dataset)}`,
    { credentials: "same-origin" });
  const result = await response.json();
  pgOption(select, "", result.cases && result.cases.length ? "— case —" : "(this dataset has no cases)");
  (result.cases || []).forEach((c, i) => {
    const summary = Object.values(c.values).join(" · ").slice(0, 60);
    pgOption(select, String(i), `case ${c.position}: ${summary}`);
  });
  select.onchange = () => {
    const chosen = result.cases[Number(select.value)];
    if (!chosen) return;
    const box = pgInputs();
    Object.entries(chosen.values).forEach(([name, value]) => {
      const input = box.querySelector(`input[name="preview-${CSS.escape(name)}"]`);
      if (input) input.value = value;
    });
  };
}

document.addEventListener("DOMContentLoaded", () => {
  pg.panel = document.getElementById("playground");
  const setup = document.getElementById("pg-setup");
  if (!pg.panel || !setup) return;
  pg.setup = JSON.parse(setup.textContent);
  pgAddColumn();
  document.getElementById("pg-add-column").addEventListener("click", pgAddColumn);
  document.getElementById("pg-run").addEventListener("click", () => {
    document.getElementById("pg-errors").hidden = true;
    pg.columns.forEach((column) => pgRunColumn(column));
  });
  const datasets = document.getElementById("pg-dataset");
  datasets.addEventListener("change", pgLoadCases);
  // The template's own cases (the demo's, or those saved from here): chosen, their list ready to pick from.
  if (pg.setup.dataset !== null && [...datasets.options].some((o) => o.value === String(pg.setup.dataset))) {
    datasets.value = String(pg.setup.dataset);
    pgLoadCases();
  }
  const editor = document.getElementById("template_form");
  if (editor) editor.addEventListener("change", pgInputs);
});
