"""The public surface of ``jaxpref.preference``: the library's shared vocabulary."""

import inspect

import pytest

from jaxpref import preference as pm

KEYWORD_ONLY = {
  pm.BradleyTerry: ("ties", "advantage", "context_dim", "l2", "item_features", "free_scores"),
  pm.GeneralPreference: ("dim", "ties", "advantage", "l2", "init_scale", "context_dim"),
  pm.Mixture: ("covariate_dim", "hard", "mixing_l2"),
  pm.fit: ("max_steps", "tol"),
  pm.minimize: ("max_steps", "threshold"),
  pm.fit_mixture: ("em_steps", "max_steps"),
  pm.fit_group_robust: ("temperatures", "max_steps"),
  pm.maxmin_lottery: ("atol",),
  pm.cyclic_gpm: ("dim", "radius", "score_scale"),
  pm.bt_mixture_games: ("scale",),
  pm.sample_comparisons: ("per_annotator", "groups", "num_annotators"),
  pm.make_pairs: ("weight", "annotator", "context", "advantage", "dtype"),
  pm.check_pairs: ("context_dim", "num_annotators"),
  pm.pairs_from_table: ("annotator_features", "dtype"),
}


@pytest.mark.parametrize("fn", list(KEYWORD_ONLY), ids=lambda fn: fn.__name__)
def test_hyperparameters_are_keyword_only(fn):
  params = inspect.signature(fn).parameters
  for name in KEYWORD_ONLY[fn]:
    assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_no_parameter_is_named_mixture_or_ref():
  # ``mixture`` is the weight of a geometric mixture elsewhere; a Mixture model is ``model``.
  for name in pm.__all__:
    obj = getattr(pm, name)
    if not callable(obj) or isinstance(obj, dict):
      continue
    try:
      params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
      continue
    assert not {"mixture", "ref"} & set(params), name
  assert next(iter(inspect.signature(pm.fit_mixture).parameters)) == "model"
  assert "weights" in inspect.signature(pm.mixture_log_likelihood).parameters
