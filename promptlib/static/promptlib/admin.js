// promptlib admin: add rows to the variables/examples tables, and the live preview panel.
// Plain DOM and fetch: no libraries, nothing loaded from the network.
"use strict";

function promptlibAddRow(prefix) {
  const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
  const template = document.getElementById(`${prefix}-empty`);
  const body = document.querySelector(`table[data-prefix="${prefix}"] tbody`);
  if (!total || !template || !body) return;
  const index = Number(total.value);
  body.insertAdjacentHTML("beforeend", template.innerHTML.replaceAll("__prefix__", String(index)));
  total.value = String(index + 1);
}

function promptlibDeclaredVariables() {
  // What the variables table currently declares (unsaved edits included).
  const rows = document.querySelectorAll('table[data-prefix="variables"] tbody tr');
  const found = [];
  rows.forEach((row) => {
    const name = row.querySelector('input[name$="-name"]');
    const gone = row.querySelector('input[name$="-DELETE"]');
    if (!name || !name.value.trim() || (gone && gone.checked)) return;
    const type = row.querySelector('select[name$="-type"]');
    const fallback = row.querySelector('input[name$="-default"]');
    found.push({ name: name.value.trim(), type: type ? type.value : "string", value: fallback ? fallback.value : "" });
  });
  return found;
}

function promptlibSyncInputs(box) {
  if (!document.querySelector('table[data-prefix="variables"]')) return;  // read-only page
  const wanted = promptlibDeclaredVariables();
  const names = new Set(wanted.map((v) => v.name));
  box.querySelectorAll("label[data-var]").forEach((label) => {
    if (!names.has(label.dataset.var)) label.remove();
  });
  wanted.forEach((v) => {
    if (box.querySelector(`label[data-var="${CSS.escape(v.name)}"]`)) return;
    const label = document.createElement("label");
    label.className = "promptlib-var";
    label.dataset.var = v.name;
    const title = document.createElement("span");
    title.textContent = `${v.name} (${v.type})`;
    const input = document.createElement("input");
    input.type = "text";
    input.name = `preview-${v.name}`;
    input.value = v.value;
    label.append(title, input);
    box.append(label);
  });
}

function promptlibShowPreview(result, output, errors, quiet = false) {
  output.replaceChildren();
  errors.replaceChildren();
  errors.hidden = result.ok;
  // On page load nothing has been typed yet: what is missing is a hint, not an error.
  errors.classList.toggle("promptlib-preview-hint", quiet);
  if (!result.ok) {
    if (quiet) {
      const lead = document.createElement("li");
      lead.textContent = "Fill in the values above to see the prompt as the AI model receives it.";
      errors.append(lead);
    }
    (result.errors || []).forEach((e) => {
      const li = document.createElement("li");
      li.textContent = e.message;
      errors.append(li);
    });
    return;
  }
  result.messages.forEach((m) => {
    const card = document.createElement("div");
    card.className = `promptlib-message ${m.role}`;
    const heading = document.createElement("h3");
    heading.textContent = m.role;
    const text = document.createElement("pre");
    text.textContent = m.content;
    card.append(heading, text);
    output.append(card);
  });
  if (!result.messages.length) output.textContent = "The prompt is empty.";
}

async function promptlibPreview(panel, quiet = false) {
  const editor = document.getElementById("template_form");
  const box = document.getElementById("preview-inputs");
  promptlibSyncInputs(box);
  const data = new FormData();
  if (editor && !panel.dataset.version) {
    new FormData(editor).forEach((value, key) => data.append(key, value));
  } else {
    data.append("version", panel.dataset.version || "");
  }
  const token = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (token) data.set("csrfmiddlewaretoken", token.value);
  box.querySelectorAll("input").forEach((input) => data.append(input.name, input.value));
  const output = document.getElementById("preview-output");
  const errors = document.getElementById("preview-errors");
  try {
    const response = await fetch(panel.dataset.url, { method: "POST", body: data, credentials: "same-origin" });
    // 400 carries the problems (a bad section or value) as JSON; anything else is a failure.
    if (!response.ok && response.status !== 400) throw new Error(`The preview failed (HTTP ${response.status}).`);
    promptlibShowPreview(await response.json(), output, errors, quiet);
  } catch (err) {
    promptlibShowPreview({ ok: false, errors: [{ message: err.message }] }, output, errors);
  }
}

// Section editors: each grows with its text (no box to scroll inside) and marks the {{ variables }} it
// uses on a layer drawn behind the (transparent) textarea: declared ones in one colour, the others (a typo,
// a row not added yet) in the error colour. Names bound in the section ({% for x in … %}, {% set x %}) count
// as declared.
const PROMPTLIB_VAR = /\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)[^}]*\}\}/g;
const PROMPTLIB_BOUND = /\{%-?\s*(?:for|set)\s+([A-Za-z_][A-Za-z0-9_, ]*?)\s*(?:in\b|=|%\})/g;
const PROMPTLIB_COPIED = ["fontFamily", "fontSize", "fontWeight", "lineHeight", "letterSpacing", "tabSize",
  "paddingTop", "paddingRight", "paddingBottom", "paddingLeft", "borderTopWidth", "borderRightWidth",
  "borderBottomWidth", "borderLeftWidth", "boxSizing"];

function promptlibMarkedText(text, declared) {
  const known = new Set(declared);
  for (const m of text.matchAll(PROMPTLIB_BOUND)) m[1].split(",").forEach((n) => known.add(n.trim()));
  const parts = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(PROMPTLIB_VAR)) {
    parts.append(text.slice(last, m.index));
    const mark = document.createElement("mark");
    mark.className = known.has(m[1]) ? "promptlib-var-known" : "promptlib-var-unknown";
    mark.dataset.var = m[1];
    mark.textContent = m[0];
    parts.append(mark);
    last = m.index + m[0].length;
  }
  parts.append(text.slice(last) + "\n");  // a last empty line keeps its height
  return parts;
}

function promptlibSectionEditors() {
  const areas = [...document.querySelectorAll("textarea.promptlib-section")];
  const layers = areas.map((area) => {
    const box = document.createElement("div");
    box.className = "promptlib-section-box";
    const layer = document.createElement("div");
    layer.className = "promptlib-section-marks";
    layer.setAttribute("aria-hidden", "true");
    area.before(box);
    box.append(layer, area);
    const style = getComputedStyle(area);
    PROMPTLIB_COPIED.forEach((prop) => { layer.style[prop] = style[prop]; });
    return layer;
  });
  const refresh = () => {
    const declared = promptlibDeclaredVariables().map((v) => v.name);
    areas.forEach((area, i) => {
      area.style.height = "auto";
      const borders = area.offsetHeight - area.clientHeight;
      area.style.height = `${area.scrollHeight + borders}px`;
      const layer = layers[i];
      layer.replaceChildren(promptlibMarkedText(area.value, declared));
      Object.assign(layer.style, { top: `${area.offsetTop}px`, left: `${area.offsetLeft}px`,
        width: `${area.offsetWidth}px`, height: `${area.offsetHeight}px` });
    });
  };
  const form = document.getElementById("template_form");
  if (form && areas.length) form.addEventListener("input", refresh);
  if (areas.length) {
    window.addEventListener("resize", refresh);
    refresh();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  promptlibSectionEditors();
  document.querySelectorAll(".promptlib-add-row").forEach((button) => {
    button.addEventListener("click", () => promptlibAddRow(button.dataset.prefix));
  });
  const panel = document.getElementById("preview");
  if (!panel) return;
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => promptlibPreview(panel), 600); };
  document.getElementById("preview-button").addEventListener("click", () => promptlibPreview(panel));
  document.getElementById("preview-inputs").addEventListener("input", later);
  const editor = document.getElementById("template_form");
  if (editor) editor.addEventListener("input", later);
  if (panel.dataset.ready === "1") {
    promptlibPreview(panel, true);
  } else {
    // A required value is still empty: the server would only answer that it is missing (an HTTP 400).
    promptlibShowPreview({ ok: false, errors: [] }, document.getElementById("preview-output"),
      document.getElementById("preview-errors"), true);
  }
});
