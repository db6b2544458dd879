"""Reading template files: YAML (strict: no duplicate keys, bounded nesting and aliases) checked field
by field, then validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from promptlib.prompts.content import MODEL_FIELDS, RETRIEVAL_FIELDS, SECTIONS, VersionContent, clean_text
from promptlib.prompts.rendering import MAX_NESTING, VARIABLE_TYPES, PromptErrors, validate_content
from promptlib.prompts.store.files import (
    EXAMPLE_KEYS,
    FILE_SUFFIXES,
    SLUG_RE,
    TOP_KEYS,
    VARIABLE_KEYS,
    StoreProblem,
    TemplateFile,
    TemplateStoreError,
    display_path,
)

# In all, aliases (*name) may repeat this many values: nine aliases of nine aliases of… ("billion
# laughs") load as a small shared structure that every later check and hash walks in full.
MAX_ALIAS_VALUES = 1_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting and alias expansion beyond a small bound."""

    def __init__(self, stream):
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) → how many values it stands for, aliases expanded
        self._repeated = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an unknown anchor is PyYAML's own error
                if id(target) not in self._sizes:
                    raise yaml.composer.ComposerError(
                        None, None, f"the alias *{event.anchor} is used inside its own anchor", event.start_mark
                    )
                self._repeated += self._sizes[id(target)]
                if self._repeated > MAX_ALIAS_VALUES:
                    raise yaml.composer.ComposerError(
                        None,
                        None,
                        f"aliases repeat more than {MAX_ALIAS_VALUES} values; write the values out instead",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"values nest more than {MAX_NESTING} levels deep", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
        return node

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str):
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _json_problem(value: Any) -> str:
    if value is None or isinstance(value, str | bool | int | float):
        return ""
    if isinstance(value, list):
        return next((p for p in map(_json_problem, value) if p), "")
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "object keys must be strings"
        return next((p for p in map(_json_problem, value.values()) if p), "")
    return f"{type(value).__name__} values are not allowed (quote it to make it a string)"


class _Reader:
    """Checks the structure of one parsed file, collecting every problem with its field."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[StoreProblem] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(StoreProblem(self.path, where, message))

    def mapping(self, value: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.bad(where, f"must be a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if key not in keys:
                self.bad(f"{where}.{key}" if where else str(key), f"unknown key; allowed: {', '.join(keys)}")
        for key in required:
            if key not in value:
                self.bad(f"{where}.{key}" if where else key, "is required")
        return value

    def items(self, raw: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...]) -> list[tuple[str, dict]]:
        """A list of mappings, each with the field name it is reported under (e.g. variables[1])."""
        if not isinstance(raw, list):
            self.bad(where, f"must be a list, got {_kind(raw)}")
            return []
        fields = [f"{where}[{index}]" for index in range(len(raw))]
        return [(name, self.mapping(item, name, keys, required)) for name, item in zip(fields, raw, strict=True)]

    def text(self, data: dict, key: str, where: str) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            self.bad(where, f"must be a string, got {_kind(value)}")
            return ""
        return clean_text(value)

    def slug(self, data: dict, key: str, where: str, max_length: int) -> str:
        value = self.text(data, key, where)
        if value and (not SLUG_RE.fullmatch(value) or len(value) > max_length):
            self.bad(where, f"{value!r} is not a slug (letters, digits, '-' and '_', at most {max_length})")
        return value

    def strings(self, data: dict, key: str, where: str) -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(where, "must be a list of strings")
            return []
        if len(set(value)) != len(value):
            self.bad(where, "lists the same value twice")
        return value

    def number(self, data: dict, key: str, where: str, *, integer: bool) -> float | int | None:
        value = data.get(key)
        kinds = (int,) if integer else (int, float)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
            self.bad(where, f"must be a non-negative {'integer' if integer else 'number'}, got {value!r}")
            return None
        return value

    def json(self, value: Any, where: str) -> Any:
        problem = _json_problem(value)
        if problem:
            self.bad(where, problem)
        return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _variables(reader: _Reader, raw: Any) -> list[dict[str, Any]]:
    variables = []
    for where, item in reader.items(raw, "variables", VARIABLE_KEYS, required=("name",)):
        kind = item.get("type", "string")
        if not isinstance(kind, str) or kind not in VARIABLE_TYPES:
            reader.bad(f"{where}.type", f"unknown type {kind!r}; use one of {', '.join(VARIABLE_TYPES)}")
        required = item.get("required", False)
        if not isinstance(required, bool):
            reader.bad(f"{where}.required", f"must be true or false, got {required!r}")
        variables.append(
            {
                "name": reader.text(item, "name", f"{where}.name"),
                "type": kind,
                "required": required,
                "default": reader.json(item.get("default"), f"{where}.default"),
                "description": reader.text(item, "description", f"{where}.description"),
            }
        )
    return variables


def _examples(reader: _Reader, raw: Any) -> list[dict[str, str]]:
    return [
        {key: reader.text(item, key, f"{where}.{key}") for key in EXAMPLE_KEYS}
        for where, item in reader.items(raw, "examples", EXAMPLE_KEYS, required=EXAMPLE_KEYS)
    ]


def template_file_parse(*, path: str, text: str) -> TemplateFile:
    """Parse and check one file's text; raise TemplateStoreError listing every problem found."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else ""
        raise TemplateStoreError([StoreProblem(path, where, f"invalid YAML: {exc.problem or exc.context}")])
    except yaml.YAMLError as exc:
        raise TemplateStoreError([StoreProblem(path, "", f"invalid YAML: {exc}")])
    reader = _Reader(path)
    if not isinstance(data, dict):
        raise TemplateStoreError([StoreProblem(path, "", f"must be a mapping of template fields, got {_kind(data)}")])
    reader.mapping(data, "", TOP_KEYS, required=("slug", "title"))
    slug = reader.slug(data, "slug", "slug", 120)
    title = reader.text(data, "title", "title")
    if "title" in data and not title:
        reader.bad("title", "must not be empty")
    if slug and Path(path).stem != slug:
        reader.bad("slug", f"{slug!r} does not match the file name; name the file {slug}.yaml")
    labels = reader.strings(data, "labels", "labels")
    for index, name in enumerate(labels):
        if not SLUG_RE.fullmatch(name) or len(name) > 60:
            reader.bad(f"labels[{index}]", f"{name!r} is not a label name (letters, digits, '-' and '_')")
    settings = reader.mapping(data.get("model_settings", {}), "model_settings", MODEL_FIELDS)
    description = reader.text(data, "description", "description")
    tags = reader.strings(data, "tags", "tags")
    retrieval = None
    if data.get("retrieval") is not None:  # checked field by field with the rest of the content
        retrieval = dict(reader.mapping(data["retrieval"], "retrieval", RETRIEVAL_FIELDS, required=("knowledge_base",)))
    content = VersionContent(
        **{name: reader.text(data, name, name) for name in SECTIONS},
        examples=_examples(reader, data.get("examples", [])),
        variables=_variables(reader, data.get("variables", [])),
        provider=reader.text(settings, "provider", "model_settings.provider"),
        model=reader.text(settings, "model", "model_settings.model"),
        temperature=reader.number(settings, "temperature", "model_settings.temperature", integer=False),
        max_tokens=reader.number(settings, "max_tokens", "model_settings.max_tokens", integer=True),
        output_schema=reader.json(settings.get("output_schema"), "model_settings.output_schema"),
        retrieval=retrieval,
    ).normalized()
    if not reader.problems:
        try:
            validate_content(content)
        except PromptErrors as exc:
            for error in exc.errors:
                reader.bad(error.field, error.message)
    if reader.problems:
        raise TemplateStoreError(reader.problems)
    return TemplateFile(
        path=path,
        slug=slug,
        title=title,
        description=description,
        tags=tags,
        labels=labels,
        content=content,
    )


def template_files_read(*, path: Path) -> list[TemplateFile]:
    """Read every template file in a directory (or one file); raise TemplateStoreError listing all problems."""
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix in FILE_SUFFIXES and p.is_file())
        if not paths:
            raise TemplateStoreError([StoreProblem(display_path(path), "", "contains no .yaml template files")])
    elif path.is_file():
        paths = [path]
    else:
        raise TemplateStoreError([StoreProblem(display_path(path), "", "no such file or directory")])
    files: list[TemplateFile] = []
    problems: list[StoreProblem] = []
    seen: dict[str, str] = {}
    for file_path in paths:
        shown = display_path(file_path)
        try:
            parsed = template_file_parse(path=shown, text=file_path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            problems.append(StoreProblem(shown, "", "is not valid UTF-8 text"))
            continue
        except TemplateStoreError as exc:
            problems.extend(exc.problems)
            continue
        if parsed.slug in seen:
            problems.append(StoreProblem(shown, "slug", f"{parsed.slug!r} is also used by {seen[parsed.slug]}"))
        seen[parsed.slug] = shown
        files.append(parsed)
    if problems:
        raise TemplateStoreError(problems)
    return files
