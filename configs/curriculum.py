"""Curry-DPO's curriculum on a tabular policy: shuffled vs easy-to-hard vs iterative with resets.

``experiments/curriculum.py``: per seed, true rewards for 32 prompts x 8 responses, 8 rated lists
of 4 responses per prompt (ratings = reward + noise), Curry-DPO's best-vs-rest pairs (768 in all),
and DPO on a softmax policy fed those pairs shuffled, easy to hard every epoch, or in stages of
one difficulty bucket with the reference reset between stages. Same pairs, same number of
updates; reported: expected true reward, ranking accuracy and KL to the reference, with paired
differences against the shuffled order.

Run (3 orders x 8 seeds, about 15 s on 2 CPU cores):

  python -m experiments.train --config configs/curriculum.py --workdir /tmp/curriculum

Expected (8 seeds): shuffled pairs end at expected reward 1.114 ± 0.080 and ranking accuracy
0.791 ± 0.013; easy-to-hard order is slightly worse (-0.031 ± 0.015 and -0.012 ± 0.006 paired),
the iterative variant with reference resets worse still (-0.094 ± 0.024 and -0.048 ± 0.007).

Variants after a colon: ``seeds=N``, ``orders=shuffled+curriculum``.
"""

import ml_collections

from configs import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config of the ``curriculum`` experiment."""
  arg = common.parse_arg(arg, seeds=8, orders="shuffled+curriculum+iterative")
  config = ml_collections.ConfigDict()
  config.experiment = "curriculum"  # Which experiment train_lib runs.
  config.x64 = False  # Float32 (neural-style training).
  config.seed = 0  # Seed s of the sweep draws its task and order from fold_in(key, s).
  config.orders = arg.orders  # Orders of the pairs, one engine run each (a static axis).
  config.prompts = 32  # Prompts (contexts) of the tabular policy.
  config.responses = 8  # Responses per prompt.
  config.list_size = 4  # Rated responses per list (Curry-DPO: UltraFeedback's 4).
  config.lists = 8  # Rated lists per prompt.
  config.rating_noise = 0.5  # Standard deviation of the rating noise around the true reward.
  config.buckets = 3  # Difficulty buckets (gap quantiles) = stages of the iterative variant.
  config.epochs = 10  # Passes over the pairs.
  config.batch = 64  # Pairs per DPO update.
  config.learning_rate = 0.05  # Adam step size on the logits (vmappable).
  config.kl_coef = 0.1  # DPO's beta (vmappable).
  common.add_run_sections(config, steps=1, log_every=1, seeds=arg.seeds)
  config.steps = 120  # Derived: epochs x pairs / batch (validated).
  config.log.every = 12  # Log every epoch.
  config.checkpoint.every = 0  # Runs take seconds: no checkpoints.
  config.log.tensorboard = False  # metrics.jsonl only.
  config.log.progress_seconds = -1.0  # No progress lines.
  return config
