"""Every module's README Inputs/Outputs tables match its variables.tf and outputs.tf.

The tables are written by hand, so this test keeps them honest: the same names in the same
order, and where the table has the column, the same type, default and description. The HCL
is read with a small brace-matching scanner (top-level ``variable``/``output`` blocks and
their top-level attributes), enough for the plain declarations these files hold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[2]
MODULE_DIRS = sorted(p.parent for p in (REPO / "terraform" / "modules").glob("*/main.tf"))

Block = dict[str, str]  # attribute name -> its expression as written (strings still quoted)

_BLOCK_START = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.M)
_ATTRIBUTE = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=", re.M)
_OPEN, _CLOSE = "([{", ")]}"


def _skip_string(text: str, i: int) -> int:
    """Index just past the HCL string literal that starts at text[i] == '"'."""
    i += 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _skip_comment(text: str, i: int) -> int:
    """Index just past the comment starting at i (``#``, ``//`` or ``/* */``), else i."""
    if text.startswith("/*", i):
        return text.index("*/", i) + 2
    if text[i] == "#" or text.startswith("//", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    return i


def _expression_end(text: str, i: int) -> int:
    """End of the expression starting at i: the first newline, comment or unmatched closer at depth 0."""
    depth = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _skip_string(text, i)
            continue
        if depth == 0 and (char == "\n" or _skip_comment(text, i) != i):
            return i
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return i


def parse_blocks(text: str, kind: str) -> dict[str, Block]:
    """Top-level ``kind "name" { ... }`` blocks of an HCL file, in file order, with their attributes."""
    blocks: dict[str, Block] = {}
    for match in _BLOCK_START.finditer(text):
        if match.group(1) != kind:
            continue
        body_start = match.end()
        attributes: Block = {}
        i, depth = body_start, 0
        while True:
            i = _skip_comment(text, i)
            char = text[i]
            if char == '"':
                i = _skip_string(text, i)
                continue
            if char in _OPEN:
                depth += 1
            elif char in _CLOSE:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (attribute := _ATTRIBUTE.match(text, i)) and text[i - 1] == "\n":
                start = attribute.end()
                end = _expression_end(text, start)
                attributes.setdefault(attribute.group(1), text[start:end].strip())
                i = end
                continue
            i += 1
        blocks[match.group(2)] = attributes
    return blocks


def hcl_string(expression: str) -> str:
    """The value of a quoted HCL string literal (the escapes these files use)."""
    assert expression.startswith('"') and expression.endswith('"'), f"not a plain string: {expression}"
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), expression[1:-1])


def _squash(value: str) -> str:
    return re.sub(r"\s+", "", value)


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    values = []
    for cell in cells:
        value = cell.strip().replace("\\|", "|")
        if re.fullmatch(r"`[^`]*`", value):
            value = value[1:-1]
        values.append(value)
    return values


def readme_table(text: str, heading: str) -> list[dict[str, str]]:
    """Rows of the first table under ``## <heading>``, as {lowercased column: cell}."""
    section = re.search(rf"^##\s+{re.escape(heading)}\s*$(.*?)(?=^##\s|\Z)", text, re.M | re.S)
    if section is None:
        return []
    lines = [line for line in section.group(1).splitlines() if line.lstrip().startswith("|")]
    if len(lines) < 2:
        return []
    header = [h.lower() for h in _cells(lines[0])]
    return [dict(zip(header, _cells(line), strict=False)) for line in lines[2:]]


def compare(module: Path) -> list[str]:
    """Every difference between a module's README tables and its variables.tf/outputs.tf."""
    readme = (module / "README.md").read_text()
    problems: list[str] = []
    for heading, file, kind in (("Inputs", "variables.tf", "variable"), ("Outputs", "outputs.tf", "output")):
        declared = parse_blocks((module / file).read_text(), kind)
        rows = readme_table(readme, heading)
        documented = [row.get("name", "") for row in rows]
        for name in declared.keys() - set(documented):
            problems.append(f"{heading}: {kind} {name!r} of {file} is missing from the README")
        for name in set(documented) - declared.keys():
            problems.append(f"{heading}: {name!r} is in the README but not in {file}")
        common = [n for n in declared if n in documented]
        if common != [n for n in documented if n in declared]:
            problems.append(f"{heading}: the README lists them in another order than {file}")
        for row in rows:
            block = declared.get(row.get("name", ""))
            if block is not None:
                problems += _compare_row(heading, row, block)
    return problems


def _compare_row(heading: str, row: dict[str, str], block: Block) -> list[str]:
    name, problems = row["name"], []
    if "description" in row and hcl_string(block.get("description", '""')) != row["description"]:
        problems.append(f"{heading}: {name}: description differs from the HCL")
    if "type" in row and _squash(block.get("type", "any")) != _squash(row["type"]):
        problems.append(f"{heading}: {name}: type {row['type']!r} != {block.get('type', 'any')!r}")
    if "default" in row:
        expected = block.get("default", "required")
        if _squash(expected) != _squash(row["default"]):
            problems.append(f"{heading}: {name}: default {row['default']!r} != {expected!r}")
    return problems


@pytest.mark.parametrize("module", MODULE_DIRS, ids=lambda p: p.name)
def test_readme_tables_match_the_module(module: Path) -> None:
    problems = compare(module)
    assert not problems, f"terraform/modules/{module.name}/README.md is out of date:\n" + "\n".join(problems)


def test_every_module_is_checked() -> None:
    assert {p.name for p in MODULE_DIRS} >= {"pipeline", "target_account", "mlflow", "network", "chatbot"}


# --- the checker itself -------------------------------------------------------------------

_SYNTHETIC_VARIABLES = """
variable "name" {
  description = "A name with \\"quotes\\", {braces} and a | bar."
  type        = string
  default     = "x" # trailing comment
}

# variable "commented_out" {
variable "settings" {
  description = "Nested."
  type = object({
    size = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.settings != null
    error_message = "description = not an attribute of the variable."
  }
}

variable "extra" {
  description = "Not in the README."
  type        = bool
}
"""

_SYNTHETIC_README = """# m

## Inputs

| name | type | default | description |
|---|---|---|---|
| `settings` | `object({ size = optional(number, 1) })` | `{}` | Nested. |
| `name` | `string` | `"y"` | A name with "quotes", {braces} and a \\| bar. |
| `ghost` | `string` | required | Gone. |

## Outputs

| name | description |
|---|---|
| `id` | Another description. |
"""


def test_parse_blocks_reads_names_and_attributes() -> None:
    blocks = parse_blocks(_SYNTHETIC_VARIABLES, "variable")
    assert list(blocks) == ["name", "settings", "extra"]
    assert hcl_string(blocks["name"]["description"]) == 'A name with "quotes", {braces} and a | bar.'
    assert blocks["name"]["default"] == '"x"'
    assert _squash(blocks["settings"]["type"]) == "object({size=optional(number,1)})"
    assert blocks["settings"]["description"] == '"Nested."'
    assert "condition" not in blocks["settings"]
    assert "default" not in blocks["extra"]


def test_compare_reports_every_kind_of_mismatch(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(_SYNTHETIC_VARIABLES)
    (tmp_path / "outputs.tf").write_text('output "id" {\n  description = "The id."\n  value       = 1\n}\n')
    (tmp_path / "README.md").write_text(_SYNTHETIC_README)
    assert sorted(compare(tmp_path)) == sorted(
        [
            "Inputs: variable 'extra' of variables.tf is missing from the README",
            "Inputs: 'ghost' is in the README but not in variables.tf",
            "Inputs: the README lists them in another order than variables.tf",
            "Inputs: name: default '\"y\"' != '\"x\"'",
            "Outputs: id: description differs from the HCL",
        ]
    )


def test_compare_accepts_a_matching_readme(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(_SYNTHETIC_VARIABLES)
    (tmp_path / "outputs.tf").write_text('output "id" {\n  description = "The id."\n  value       = 1\n}\n')
    readme = (
        _SYNTHETIC_README.replace('`"y"`', '`"x"`')
        .replace(
            "| `ghost` | `string` | required | Gone. |",
            "| `extra` | `bool` | required | Not in the README. |",
        )
        .replace("Another description.", "The id.")
    )
    lines = readme.splitlines()
    lines[6], lines[7] = lines[7], lines[6]  # settings after name, as in the HCL
    (tmp_path / "README.md").write_text("\n".join(lines))
    assert compare(tmp_path) == []
