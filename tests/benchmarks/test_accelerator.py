"""The one-command accelerator script runs on a CPU at small sizes and writes its table."""

import importlib
import json
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def _check(stdout: str, out: pathlib.Path, sections: str) -> None:
  assert "| section | task | value | unit | target (H100) | note |" in stdout
  rows = json.loads(out.read_text())["rows"]
  assert {r["section"] for r in rows} == set(sections.split(","))
  assert all(r["value"] is not None and r["value"] > 0 for r in rows)
  assert not any("DIFFER" in r["note"] or "FAILED" in r["note"] for r in rows)


def test_smoke_run_of_the_cheap_sections_in_process(tmp_path, monkeypatch, capsys):
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  accelerator = importlib.import_module("accelerator")
  out = tmp_path / "rows.json"
  argv = ["accelerator.py", "--smoke", "--only", "hbm,pareto", "--out", str(out)]
  monkeypatch.setattr(sys, "argv", argv)
  accelerator.main()
  _check(capsys.readouterr().out, out, "hbm,pareto")


# The whole smoke run as the command line runs it (about a minute on 2 cores).
@pytest.mark.slow
def test_smoke_run_of_every_section_from_the_command_line(tmp_path):
  out = tmp_path / "rows.json"
  sections = "solve,hbm,sweep,pareto,lm"
  cmd = [sys.executable, "accelerator.py", "--smoke", "--only", sections, "--out", str(out)]
  done = subprocess.run(cmd, cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  _check(done.stdout, out, sections)
