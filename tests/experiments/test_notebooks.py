import json
import os
import pathlib
import subprocess
import sys

from tests.experiments.test_train import REPO


def _code(path):
  cells = json.loads(path.read_text())["cells"]
  return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _run(name):
  """Runs a notebook's code cells in order, in a fresh interpreter; returns its stdout."""
  code = _code(pathlib.Path(REPO) / "notebooks" / name)
  proc = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=600,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def test_policy_objectives_notebook_executes():
  """A user's loss registered and trained through the engine (about 20 s)."""
  out = _run("policy_objectives.ipynb")
  assert "squared_hinge  regularized gap" in out and "initial policy regularized gap" in out


def test_rankings_notebook_executes():
  """Plackett-Luce with ties, the listwise losses, Curry's pairs and an arena (about 15 s)."""
  out = _run("rankings.ipynb")
  assert "pl_dpo  2.918822" in out  # the spec's PL-DPO vector
  assert "Plackett-Luce strengths  [ 1.5321  0.2242 -0.5145 -1.2418]" in out  # choix
  assert "Kendall tau to the truth" in out


def test_overoptimization_notebook_executes():
  """Best-of-n gold vs proxy, a fitted law, a constrained policy, the transform, DeAL's search."""
  out = _run("overoptimization.ipynb")
  assert "u = [-0.126928 -1.313262]  sum = -1.44019" in out  # the spec's transform vector
  assert "fitted peak at sqrt(KL)" in out and "multiplier mu" in out
  assert "LM calls: 84" in out


def test_pluralistic_policy_notebook_executes():
  """The exact egalitarian policy of the MaxMin toy, GRPO against pooled DPO, MaxMin-RLHF."""
  out = _run("pluralistic_policy.ipynb")
  assert "egalitarian pi  [0.322 0.322 0.356]  group values [0.534 0.534]" in out
  assert "group-robust DPO" in out
  line = next(x for x in out.splitlines() if x.startswith("MaxMin-RLHF"))
  pi = [float(v) for v in line.split("[")[1].split("]")[0].split()]
  assert max(abs(a - b) for a, b in zip(pi, (0.322, 0.322, 0.356), strict=True)) < 0.01, line


def test_nlhf_notebook_executes():
  """The NLHF registry, Nash-MP's regression = Mirror Prox, APO's rounds."""
  out = _run("nlhf.ipynb")
  assert "regression [0.595076 0.251688 0.153236]  tabular [0.595076 0.251688 0.153236]" in out
  assert "alpha 0.3: [0.339922 0.182496 0.087899 0.04148  0.019752]" in out  # the spec's vector


def test_personalization_notebook_executes():
  """LoRe's few-shot curve for new people against the population BT, and a person's game."""
  out = _run("personalization.ipynb")
  lines = {x.split("  ")[0]: x for x in out.splitlines()}
  bt = float(lines["population BT"].split()[-1])
  k20 = float(next(x for x in out.splitlines() if x.startswith("LoRe, k = 20")).split()[-1])
  assert k20 < bt - 0.1, out
  assert "its true rank" in out


def test_lm_offline_notebook_executes():
  """Offline DPO on LLMFAO's judged pairs through the engine (tiny decoder, 2 seeds, 4 steps)."""
  out = _run("lm_offline.ipynb")
  assert "1906 judged pairs from 8931 judgments" in out
  assert "pairs: 32 train, 16 held out" in out
  assert "metrics: heldout_accuracy, heldout_loss, heldout_margin, kl, loss" in out
  assert "held-out prompts shared with training: 0" in out  # the split is by prompt
  assert "written: metrics.jsonl, pairs.json, reference_logp.npz" in out
  assert "KL to the reference > 0 at every seed: True" in out


def test_multiobjective_notebook_executes():
  """MAP's palette, CPO/DPA/PAMA, the named aggregators, two methods through the engine."""
  out = _run("multiobjective.ipynb")
  assert "MAP lambda [0.5 1.5]  w / kl_coef [0.5 1.5]" in out
  assert "CPO label 1.0  loss 0.2014" in out and "PAMA [0.0, 1.0, -0.5]" in out
  assert "upgrad    weights [1.1667 0.8947]" in out
  for method in ("panacea  models  1", "map      models  0"):
    assert method in out
