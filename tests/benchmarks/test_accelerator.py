"""The one-command accelerator script runs on a CPU at small sizes and writes its table."""

import json
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


# The cheap sections run by default; the whole smoke run (about a minute on 2 cores) is slow.
@pytest.mark.parametrize(
  "sections", ["hbm,pareto", pytest.param("solve,hbm,sweep,pareto,lm", marks=pytest.mark.slow)]
)
def test_smoke_run_prints_one_table_and_writes_the_rows(tmp_path, sections):
  out = tmp_path / "rows.json"
  cmd = [sys.executable, "accelerator.py", "--smoke", "--only", sections, "--out", str(out)]
  done = subprocess.run(cmd, cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "| section | task | value | unit | target (H100) | note |" in done.stdout
  rows = json.loads(out.read_text())["rows"]
  assert {r["section"] for r in rows} == set(sections.split(","))
  assert all(r["value"] is not None and r["value"] > 0 for r in rows)
  assert not any("DIFFER" in r["note"] or "FAILED" in r["note"] for r in rows)
