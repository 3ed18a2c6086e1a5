"""Social choice on real judgments: every voting rule, the maximal lottery, and where they disagree.

Electorates: LLMFAO's crowd (8,931 judgments of 59 LLMs, shipped with jaxpref) and GPT-4 judging
the same pairs (``../shared/data/llmfao/gpt4-crowd-comparisons.csv``), and the paired-comparison
surveys Topmodel2007, GermanParties2009, FirstNames and CEMSChoice (192-303 respondents, 6 items,
all 15 pairs each). For LLMFAO the margin-based rules run on the pairwise counts (Copeland,
Llull, minimax, leximax, ranked pairs, beat path, split cycle, Smith and uncovered sets,
Bradley-Terry, the maximal lottery), and the Vote'n'Rank rules run on a score table with the
prompts as voters (each model's win rate on the prompt; a model not judged on a prompt gets the
prompt's median). For the surveys every respondent whose 15 answers form a strict linear order
is a ballot, so every rule runs, including the positional, elimination and Kemeny-Young rules;
the margin rules also run on all respondents' pairwise answers. Writes ``results.json`` and
``rule_disagreement.png`` (Kendall tau between the rules' rankings).

Run (about 8 s on 2 CPU cores; ``datasets=llmfao`` alone needs no ``../shared`` folder):

  python -m experiments.train --config configs/social_choice.py --workdir /tmp/social

Variants after a colon: ``datasets=llmfao+topmodel2007`` (any of llmfao, gpt4, topmodel2007,
germanparties2009, firstnames, cemschoice), ``plot=false``.

Expected (the README's results section has the tables): the LLMFAO crowd has no Condorcet
winner and 19 rules give 13 different winner sets (Copeland and BT: command; leximax: LLaMA-2-Chat
(70B); the prompt-level Borda, Copeland, minimax and mean: GPT 4); with pairs never judged
counting as ties the Smith set is all 59 models. On Topmodel2007 Barbara is the Condorcet winner
of the pairwise answers and of the linear ballots, but Bradley-Terry, plurality, Borda and
Dowdall elect Hana.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``social_choice`` experiment."""
  arg = common.parse_arg(
    arg, datasets="llmfao+gpt4+topmodel2007+germanparties2009+firstnames+cemschoice", plot=True
  )
  config = ml_collections.ConfigDict()
  config.experiment = "social_choice"  # Which experiment train_lib runs.
  config.x64 = True  # Float64 for the maximal lotteries and Bradley-Terry fits.
  config.datasets = arg.datasets  # Electorates joined by "+" (see the docstring).
  config.plot = arg.plot  # Write rule_disagreement.png.
  config.top_k = 5  # Items listed per maximal lottery.
  config.data = ml_collections.ConfigDict()
  config.data.llmfao = ""  # LLMFAO crowd CSV; "" = the copy shipped with jaxpref.
  config.data.gpt4 = "../shared/data/llmfao/gpt4-crowd-comparisons.csv"  # GPT-4's judgments.
  config.data.paircomp_dir = "../shared/data/paircomp"  # Folder of the survey CSVs.
  return config
