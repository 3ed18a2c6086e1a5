"""A small sweep config and program shared by the training tests (the nash_sweep experiment)."""

import ml_collections

from configs import nash_sweep as nash_sweep_config


def small_config(**overrides) -> ml_collections.ConfigDict:
  """nash_sweep on 5-item games: 2 step sizes x 2 KL coefficients x 3 seeds, 40 steps."""
  config = nash_sweep_config.get_config("n=5,seeds=3,steps=40")
  config.x64 = True
  config.vmap.axes.solver.step_size = (0.5, 2.0)
  config.vmap.axes.solver.kl_coef = (0.0, 0.1)
  config.log.every = 10
  config.log.tensorboard = False
  config.log.progress_seconds = -1.0
  config.checkpoint.every = 20
  config.checkpoint.async_save = False
  config.plot = False
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config
