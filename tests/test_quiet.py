"""The library prints nothing: no ``print`` call in jaxpref/, and importing it writes no output."""

import ast
import os
import pathlib
import subprocess
import sys

import jaxpref

ROOT = pathlib.Path(jaxpref.__file__).resolve().parent
REPO = ROOT.parent
SUBPACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))


def _print_lines(source: str) -> list[int]:
  """Lines of ``print(...)`` calls in Python source (docstring examples are strings, not calls)."""
  return [
    node.lineno
    for node in ast.walk(ast.parse(source))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
  ]


def test_no_print_call_in_the_library():
  sources = sorted(ROOT.rglob("*.py"))
  assert len(sources) > 50 and ROOT / "training" / "_loop.py" in sources
  calls = [
    f"{path.relative_to(REPO)}:{line}"
    for path in sources
    for line in _print_lines(path.read_text(encoding="utf-8"))
  ]
  assert not calls, f"print() in the library (log, or return values instead): {calls}"


def test_the_check_finds_print_calls():
  source = 'def f(x):\n  """>>> print(x)"""\n  print(x)\n  return x.print()\n'
  assert _print_lines(source) == [3]


def test_importing_the_library_writes_nothing():
  assert {"training", "models", "games"} <= set(SUBPACKAGES)
  code = "import jaxpref\n" + "".join(f"import jaxpref.{name}\n" for name in SUBPACKAGES)
  proc = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout == "", proc.stdout[-3000:]
  assert proc.stderr == "", proc.stderr[-3000:]
