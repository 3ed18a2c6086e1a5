import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import preference as pm


def test_bt_logit_has_features_context_and_advantage():
  x = jnp.asarray([[1.0], [0.0], [2.0]])
  model = pm.BradleyTerry(3, advantage=True, context_dim=2, item_features=x)
  params = {
    "scores": jnp.asarray([0.1, 0.2, 0.3]),
    "beta": jnp.asarray([0.5]),
    "gamma": jnp.arange(6.0).reshape(3, 2),
    "advantage": jnp.asarray(0.25),
  }
  c = jnp.asarray([1.0, -1.0])
  s0 = 0.1 + 0.5 * 1.0 + (0.0 - 1.0)
  s2 = 0.3 + 0.5 * 2.0 + (4.0 - 5.0)
  np.testing.assert_allclose(model.logit(params, 0, 2, c), s0 - s2 + 0.25)
  # The row's indicator signs the advantage: item_b at home, then neutral ground.
  np.testing.assert_allclose(model.logit(params, 0, 2, c, -1.0), s0 - s2 - 0.25)
  np.testing.assert_allclose(model.logit(params, 0, 2, c, 0.0), s0 - s2)
  gpm = pm.GeneralPreference(3, advantage=True)
  gpm_params = {
    "scores": jnp.asarray([0.1, 0.2, 0.3]),
    "embed": jnp.zeros((3, 2)),
    "advantage": 0.5,
  }
  for side in (1.0, 0.0, -1.0):
    np.testing.assert_allclose(gpm.logit(gpm_params, 2, 0, c, side), 0.2 + 0.5 * side)


def test_gpm_is_skew_symmetric_and_bt_when_embeddings_vanish():
  model = pm.GeneralPreference(5, dim=4)
  params = model.init(jax.random.key(0))
  params["scores"] = jnp.arange(5.0)
  c = jnp.zeros(0)
  d = jax.vmap(jax.vmap(model.logit, (None, None, 0, None)), (None, 0, None, None))(
    params, jnp.arange(5), jnp.arange(5), c
  )
  np.testing.assert_allclose(d, -d.T, atol=1e-15)
  np.testing.assert_allclose(jnp.diag(d), 0.0, atol=1e-15)
  flat = {**params, "embed": jnp.zeros((5, 4))}
  np.testing.assert_allclose(model.logit(flat, 3, 1, c), 2.0)


def test_gpm_represents_rock_paper_scissors_exactly():
  # Items at 0, 120 and 240 degrees on a circle: each beats the next one.
  angles = 2 * jnp.pi * jnp.arange(3) / 3
  embed = 2.0 * jnp.stack([jnp.cos(angles), jnp.sin(angles)], -1)
  model = pm.GeneralPreference(3, dim=2)
  P = pm.preference_matrix(model, {"scores": jnp.zeros(3), "embed": embed})
  p = float(jax.nn.sigmoid(4 * jnp.sin(2 * jnp.pi / 3)))
  np.testing.assert_allclose(P[0, 1], p)
  np.testing.assert_allclose(P[1, 2], p)
  np.testing.assert_allclose(P[2, 0], p)  # a cycle: no BT model has one


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"num_items": 1}, "num_items must be >= 2"),
    ({"num_items": 3, "ties": "glicko"}, "Unknown tie model"),
    ({"num_items": 3, "l2": -1.0}, "l2 must be finite"),
    ({"num_items": 3, "l2": float("nan")}, "l2 must be finite"),
    ({"num_items": 3, "item_features": np.zeros((2, 1))}, "item_features must have"),
  ],
)
def test_bad_bt_configs(kwargs, match):
  with pytest.raises(ValueError, match=match):
    pm.BradleyTerry(**kwargs)


def test_bad_gpm_configs():
  with pytest.raises(ValueError, match="even"):
    pm.GeneralPreference(3, dim=3)
  with pytest.raises(ValueError, match="needs a PRNG key"):
    pm.GeneralPreference(3).init(None)


def test_models_are_pytrees_with_static_structure():
  model = pm.BradleyTerry(4, ties="davidson", l2=0.5)
  leaves, treedef = jax.tree.flatten(model)
  assert leaves == [0.5]
  assert jax.tree.unflatten(treedef, [jnp.asarray(0.1)]).ties == "davidson"
