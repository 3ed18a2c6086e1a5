"""Pareto fronts from one preference-conditioned model (Panacea) against per-weight baselines.

Three parts, all float32, each a ``jaxpref.training.Program`` run by ``run_sweep`` at every
(hyperparameter, seed) point (``vmap.seeds``, 8 by default; vmappable axes: ``ff.learning_rate``,
``kl.learning_rate``, ``kl.kl_coef``, ``llmfao.learning_rate``, ``llmfao.kl_coef``, set as e.g.
``--config.vmap.axes.kl.kl_coef='(0.25,0.5,1.0)'``), in ``workdir/<part>`` (metrics.jsonl,
TensorBoard, checkpoints; a rerun resumes). The exact hypervolumes (``pareto.hypervolume_host``,
NumPy) cannot run inside the compiled program: they are computed on the host afterwards, per
point, from the final states. ``results.json`` holds every metric as a ``[*axes, seed]`` array
with its mean and 95% interval; ``<part>_fronts.png`` shows the seed-mean fronts with every
seed's points, ``<part>_curves.png`` the logged metrics (mean and band over seeds).

* ``ff``: Pareto-set learning on Fonseca-Fleming. A network maps the weight vector to a point
  x in R^2; LS, TCH and STCH with SVD-LoRA, concat and FiLM conditioning (static: all nine
  networks live in one state). Reported: IGD+ and hypervolume (ratio to the exact 0.34209,
  reference (1, 1)) of the front traced on a 201-point weight grid, distinct points.
* ``kl``: a KL-regularized multi-objective categorical policy (a "tiny LM": prompts with feature
  vectors, V responses, m reward vectors; each seed draws its own task) and every method of
  ``kl.methods`` (``experiments/pareto_kl.py``), each its own run in ``workdir/kl/<method>``:
  panacea (one SVD-LoRA-conditioned policy, LS), modpo, rewarded_soups, cpo, dpa, pama,
  dynamic_weighting, map, mgda, pcgrad, upgrad, dualproj, against the closed form
  pi_ref exp(w^T r / kl_coef). Reported per method (``results["kl"]["methods"]``): max KL to its
  target, hypervolume and its ratio to the closed form's, IGD+ to the closed-form front,
  controllability, models trained, wall time.
* ``llmfao``: a real two-objective case. BT strengths of the 59 LLMs from the crowd's judgments
  and from GPT-4's judgments of the same pairs are two rewards; a conditioned router policy over
  the 59 models traces their KL-regularized front; the Pareto-optimal LLMs are listed. Needs
  ``../shared/data/llmfao/gpt4-crowd-comparisons.csv`` (or ``--config.llmfao.gpt4=FILE``);
  skipped with a message when it is absent.

Run:

  python -m experiments.train --config configs/pareto_front.py --workdir /tmp/pareto
  python -m experiments.train --config configs/pareto_front.py:parts=kl --workdir /tmp/pareto_kl

Variants after a colon: ``parts=ff`` (any of ff, kl, llmfao joined by "+"), ``seeds=8``,
``steps=3000``, ``plot=false``.

Expected (``parts=kl``, 8 seeds, 3000 steps; about 20 minutes on a loaded 2-core machine; the
README has the table of all twelve methods): panacea within max KL (1.77 +- 0.13)e-3 of the
closed form and HV 0.99978 +- 0.00006 of the closed form's; modpo exact (KL 6e-6, HV ratio
1.00000); rewarded_soups KL 0.31 +- 0.03, HV ratio 0.889 +- 0.009; cpo and dpa controllable
(0.92, 0.997) but far below the front (HV ratios 0.23, 0.24); map 0.983; upgrad 0.942.
``parts=ff,steps=1500`` (8 seeds, about 20 s; 4 minutes on a loaded machine): TCH/STCH
99.10-99.27% of the exact HV for every conditioning (concat best), LS 80-88%. ``parts=llmfao``
(about 11 s): GPT 4 and GPT 3.5 Turbo are the only Pareto-optimal LLMs; the router policy is
within KL (1.73 +- 0.23)e-4 of the closed form (HV 11.6687 vs 11.6689). ``-m slow`` tests check
the ff and llmfao numbers.
"""

import ml_collections

from configs import common
from experiments.pareto_kl import METHODS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``pareto_front`` experiment."""
  arg = common.parse_arg(arg, parts="ff+kl+llmfao", plot=True, seeds=8, steps=3000)
  config = ml_collections.ConfigDict()
  config.experiment = "pareto_front"  # Which experiment train_lib runs.
  config.x64 = False  # Float32 throughout (neural training).
  config.seed = 0  # Base seed; seed s of the sweep uses fold_in(key(seed), s).
  config.parts = arg.parts  # Parts joined by "+": ff, kl, llmfao (static: one run_sweep each).
  config.plot = arg.plot  # Write the PNG figures.
  config.grid = 200  # Evaluation grid: Das-Dennis lattice with this many divisions (m = 2).

  config.ff = ml_collections.ConfigDict()
  config.ff.dim = 2  # Decision-space dimension n of Fonseca-Fleming.
  config.ff.hidden = "32,32"  # Hidden widths of the conditioned network.
  config.ff.rank = 4  # Learned singular values per SVD-LoRA layer.
  config.ff.conditionings = "svd_lora,concat,film"  # Conditionings compared (static).
  config.ff.methods = "ls,tch,stch"  # Scalarizations compared (static).
  config.ff.learning_rate = 3e-3  # Adam step size (vmappable).
  config.ff.num_weights = 16  # Weight vectors sampled per step.
  config.ff.mu = 0.01  # STCH temperature.

  config.kl = ml_collections.ConfigDict()
  config.kl.num_prompts = 64  # Prompts (contexts) x.
  config.kl.features = 8  # Feature width of a prompt.
  config.kl.vocab = 16  # Responses V per prompt.
  config.kl.num_objectives = 2  # Reward vectors m (2 or 3).
  config.kl.correlation = -0.6  # Correlation between the rewards (negative: conflicting).
  config.kl.kl_coef = 0.5  # KL weight beta (vmappable, > 0).
  config.kl.hidden = "64,64"  # Hidden widths of every policy network.
  config.kl.rank = 4  # Learned singular values per SVD-LoRA layer.
  config.kl.methods = ",".join(METHODS)  # Methods compared, each its own run (static).
  config.kl.learning_rate = 3e-3  # Adam step size, all methods (vmappable).
  config.kl.num_weights = 16  # Weights / tokens / directions per step of the conditioned policies.
  config.kl.sweep = 10  # Divisions of the weight sweep: per-weight models and evaluation (11).
  config.kl.cpo_temperature = 0.0  # CPO label temperature; 0 = the paper's hard labels.
  config.kl.dpa_samples = 16  # DPA: responses drawn per prompt and direction in a round (N).
  config.kl.dpa_rounds = 4  # DPA: rejection-sampling rounds over the run.
  config.kl.pama_radius = 1.0  # PAMA: 1 = the paper's rule, 0 = linear scalarization.
  config.kl.dynamic_every = 25  # Dynamic weighting: steps between mirror steps on the weights (K).
  config.kl.dynamic_mu = 1.0  # Dynamic weighting: regularisation mu of the mirror step.
  config.kl.map_samples = 16  # MAP: reference samples per prompt for the dual.

  config.llmfao = ml_collections.ConfigDict()
  config.llmfao.crowd = ""  # Crowd comparisons; "" = the copy shipped with jaxpref.
  config.llmfao.gpt4 = "../shared/data/llmfao/gpt4-crowd-comparisons.csv"  # GPT-4 judgments.
  config.llmfao.l2 = 0.01  # L2 strength of the two Bradley-Terry fits.
  config.llmfao.kl_coef = 0.25  # KL weight beta of the router policy (vmappable, > 0).
  config.llmfao.learning_rate = 3e-3  # Adam step size (vmappable).

  # Every part runs steps iterations at each (hyperparameter, seed) point; swept axes mirror the
  # config, e.g. config.vmap.axes.kl.kl_coef = (0.25, 0.5, 1.0) (fields in pareto_programs.FIELDS).
  common.add_run_sections(
    config, steps=arg.steps, log_every=250, checkpoint_every=1000, seeds=arg.seeds
  )
  return config
