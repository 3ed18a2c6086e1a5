"""Maximal lotteries (max-entropy Nash equilibria) of the canonical games and of LLMFAO.

Computes the exact equilibrium of every canonical game (checked against its closed form) and of the
crowd preference game over the 59 LLMs judged in LLMFAO, prints a table, and writes
``results.json`` and ``equilibria.png`` into the workdir.

Run (about 6 s on 2 CPU cores):

  python -m experiments.train --config configs/nash_games.py --workdir /tmp/nash_games

Variants, after a colon: ``games=all|canonical|llmfao`` (default ``all``), ``top_k=N``; e.g.
``--config configs/nash_games.py:games=llmfao,top_k=5``. Override any field with
``--config.llmfao.prior=1.0``.

Expected: every canonical game matches its closed form to <= 1e-12 with certified duality gap
<= 1e-9. The LLMFAO crowd game (784 of 1711 model pairs never compared, scored as ties) has a mixed
maximal lottery on 31 of the 59 models, led by Guanaco (65B) 0.126, Luminous Base Control 0.087,
LLaMA-2-Chat (13B) 0.083 and Platypus-2 Instruct (70B) 0.081, with gap ~1e-16.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``nash_games`` experiment."""
  arg = common.parse_arg(arg, games="all", top_k=10)
  if arg.games not in ("all", "canonical", "llmfao"):
    raise ValueError(f"games must be 'all', 'canonical' or 'llmfao'; got {arg.games!r}.")
  config = ml_collections.ConfigDict()
  config.experiment = "nash_games"  # Which experiment train_lib runs.
  config.x64 = True  # Float64 everywhere: equilibria are certified to 1e-9.
  config.seed = 0  # Unused by exact solvers; kept for a uniform interface.
  config.canonical = arg.games in ("all", "canonical")  # Solve the canonical games.
  config.tol = 1e-9  # Duality gap every equilibrium must certify.
  config.top_k = arg.top_k  # Items listed per game in the table and results.json.
  config.plot = True  # Write equilibria.png.

  config.llmfao = ml_collections.ConfigDict()
  config.llmfao.enabled = arg.games in ("all", "llmfao")  # Solve the LLMFAO crowd game.
  config.llmfao.path = ""  # CSV in LLMFAO format; "" = the crowd file shipped with jaxpref.
  config.llmfao.unseen = "tie"  # Never-compared model pairs: "tie" (P = 1/2) or "raise".
  config.llmfao.prior = 0.0  # Pseudo-count added to every pair, half to each side.
  return config
