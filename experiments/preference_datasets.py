"""The datasets of ``experiments/preference_models.py``: where each lives and how it is read.

``llmfao`` (shipped with jaxpref, or a user's copy), the paircomp surveys (``data.paircomp_dir``)
with their respondent covariates, football (home advantage) and any comparison CSV
(``config.csv``: columns, covariates, advantage). Every file and its columns are checked when
loaded, before anything is fitted.
"""

import dataclasses
import os
from typing import Any, NamedTuple

import jax.numpy as jnp
import ml_collections
from absl import logging

from experiments import common
from jaxpref import data
from jaxpref import preference as pm
from jaxpref.types import Array


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Where a dataset lives and how to read it."""

  path: str
  columns: dict[str, Any]
  advantage: bool
  covariates: tuple[str, ...] = ()
  llmfao_format: bool = False


SURVEYS = {  # Paircomp surveys: file name and respondent covariates.
  "soundquality": ("SoundQuality", ("progmat", "time")),
  "topmodel2007": ("Topmodel2007", ("gender", "age")),
  "cemschoice": ("CEMSChoice", ("study", "gender", "work")),
  "germanparties2009": ("GermanParties2009", ("gender", "age")),
  "firstnames": ("FirstNames", ("gender", "age")),
}


def registry(config: ml_collections.ConfigDict) -> dict[str, Dataset]:
  """Every dataset the config can name: LLMFAO, the paircomp surveys, football and a CSV."""
  paircomp, csv = config.data.paircomp_dir, config.csv
  out = {"llmfao": Dataset(config.data.llmfao, {}, advantage=True, llmfao_format=True)}
  for name, (file, covariates) in SURVEYS.items():
    out[name] = Dataset(os.path.join(paircomp, f"{file}.csv"), {}, False, covariates)
  football = {"item_a": "home", "item_b": "away", "annotator": "season"}
  out["football"] = Dataset(os.path.join(paircomp, "football.csv"), football, advantage=True)
  columns = {k: csv[k] for k in ("item_a", "item_b", "outcome", "annotator")}
  covariates = tuple(c for c in csv.covariates.split(",") if c)
  out["csv"] = Dataset(csv.path, columns, bool(csv.advantage), covariates)
  return out


def requested(config: ml_collections.ConfigDict, extra: tuple[str, ...] = ()) -> list[str]:
  """The names in ``config.datasets``; raises ``ValueError`` on an unknown or empty list.

  ``extra`` names datasets an experiment reads itself (accepted here, not loaded by
  :func:`load_datasets`).
  """
  known = [*registry(config), *extra]
  names = common.names(config.datasets)
  unknown = [n for n in names if n not in known]
  if unknown or not names:
    raise ValueError(f"Unknown dataset(s) {unknown}; choose from {', '.join(known)}.")
  if "csv" in names and not config.csv.path:
    raise ValueError("datasets includes 'csv' but csv.path is empty; set --config.csv.path=FILE.")
  return names


class Loaded(NamedTuple):
  """One dataset in memory: its table, all its rows as pairs, annotator covariates."""

  entry: Dataset
  table: data.Comparisons
  pairs: pm.Pairs
  covariates: Array | None


def load_datasets(
  config: ml_collections.ConfigDict, names: list[str] | None = None
) -> dict[str, Loaded]:
  """Reads every requested dataset (checking its columns) before anything is fitted.

  Paircomp surveys whose file is absent are skipped with a warning; ``llmfao`` and ``csv`` are
  always read (a missing ``csv`` file is an error). ``names`` overrides ``config.datasets``.
  """
  out = {}
  for name in requested(config) if names is None else names:
    entry = registry(config)[name]
    if name not in ("llmfao", "csv") and not os.path.exists(entry.path):
      logging.warning("skipping %s: %s not found (set data.paircomp_dir)", name, entry.path)
      print(f"skipping {name}: {entry.path} not found (set --config.data.paircomp_dir)")
      continue
    if entry.llmfao_format:
      table = data.load_llmfao(entry.path or None)  # "" = the copy shipped with jaxpref
    else:
      table = data.load_comparisons(entry.path, **entry.columns)
    covariates = None
    if entry.covariates and table.num_annotators:
      covariates = jnp.asarray(data.covariate_matrix(table, entry.covariates)[0])
    out[name] = Loaded(entry, table, pm.pairs_from_table(table), covariates)
  return out
