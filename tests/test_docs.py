"""Documentation the library cites lives in the repository.

Docstrings cite ``docs/solvers.md, '<section title>'``; every cited ``.md`` path must exist in the
repository and every cited section of ``docs/solvers.md`` must be one of its headings.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SOLVERS = DOCS / "solvers.md"
# A path ending in .md; the word character before ".md" keeps "...md" (einsum specs) out.
MD_PATH = re.compile(r"(?<![\w/.-])([\w/.-]*\w\.md)\b")
# docs/solvers.md, 'Title'  (the title may wrap over lines inside a docstring).
SECTION = re.compile(r"docs/solvers\.md`{0,2},?\s*'([^']+)'")
# Data may live next to the repository (the experiments' defaults); documentation may not.
SHARED = re.compile(r"\.\./shared")
CITING_DIRS = ("jaxpref", "experiments", "configs", "benchmarks")


def _sources(*dirs: str) -> list[pathlib.Path]:
  return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def _headings() -> set[str]:
  lines = SOLVERS.read_text(encoding="utf-8").splitlines()
  return {line.lstrip("#").strip() for line in lines if line.startswith("#")}


def _docstrings(path: pathlib.Path) -> list[tuple[int, str]]:
  tree = ast.parse(path.read_text(encoding="utf-8"))
  nodes = [tree, *ast.walk(tree)]
  kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
  out = []
  for node in nodes:
    if isinstance(node, kinds) and (doc := ast.get_docstring(node, clean=False)):
      out.append((getattr(node, "lineno", 1), doc))
  return out


def test_solvers_doc_has_the_cited_sections():
  headings = _headings()
  for title in (
    "Vocabulary and symbol table",
    "Hyperparameter names",
    "Entropic mirror solvers",
    "Gap conventions",
    "Convergence rates",
    "Float32 accumulation",
    "Tabular equivalences",
  ):
    assert title in headings, title


def test_cited_markdown_files_exist():
  missing = []
  for path in _sources("jaxpref"):
    for m in MD_PATH.finditer(path.read_text(encoding="utf-8")):
      cited = m.group(1)
      candidates = (ROOT / cited, DOCS / cited, path.parent / cited)
      if not any(c.is_file() for c in candidates):
        line = path.read_text(encoding="utf-8")[: m.start()].count("\n") + 1
        missing.append(f"{path.relative_to(ROOT)}:{line}: {cited}")
  assert not missing, "citations of .md files that are not in the repository:\n" + "\n".join(
    missing
  )


def test_cited_sections_exist():
  headings = _headings()
  bad = []
  for path in _sources(*CITING_DIRS):
    for m in SECTION.finditer(path.read_text(encoding="utf-8")):
      title = " ".join(m.group(1).split())
      if title not in headings:
        bad.append(f"{path.relative_to(ROOT)}: '{title}'")
  assert not bad, "sections of docs/solvers.md that do not exist:\n" + "\n".join(bad)


def test_no_docstring_points_outside_the_repository():
  bad = [
    f"{path.relative_to(ROOT)}:{line}"
    for path in _sources("jaxpref")
    for line, doc in _docstrings(path)
    if SHARED.search(doc)
  ]
  assert not bad, "docstrings citing ../shared (documentation outside the repository): " + str(bad)


def test_checks_catch_bad_citations():
  assert MD_PATH.findall("see ``nash_solvers.md`` Sec. 1 and docs/solvers.md") == [
    "nash_solvers.md",
    "docs/solvers.md",
  ]
  assert MD_PATH.findall('jnp.einsum("...md,...nd->...mn", w, f)') == []
  assert SECTION.findall("(``docs/solvers.md``, 'Vocabulary and symbol\n  table')") == [
    "Vocabulary and symbol\n  table"
  ]
  assert SHARED.search("``../shared/docs/performance.md``")
  assert SHARED.search("``../shared/data/paircomp``")
