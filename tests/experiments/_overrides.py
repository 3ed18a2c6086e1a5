"""Setting dotted config fields in the experiment tests."""

from typing import Any

import ml_collections


def override(config: ml_collections.ConfigDict, **fields: Any) -> ml_collections.ConfigDict:
  """Sets ``config.<a.b.c> = value`` for each ``"a.b.c": value`` and returns ``config``."""
  for key, value in fields.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config
