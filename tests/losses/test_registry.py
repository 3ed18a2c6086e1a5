import inspect

import jax
import pytest

from jaxpref import losses as L  # noqa: N812

from ._helpers import PAIR

# Papers' symbols that the losses' signatures must not use (jaxpref's names: kl_coef, step_size,
# mixture, weights; ref_policy / ref_logp / ref_point).
BANNED = {"beta", "tau", "eta", "lam", "ref"}


@pytest.mark.parametrize("name", sorted(L.LOSSES))
def test_registered_losses_take_keyword_only_hyperparameters(name):
  params = list(inspect.signature(L.LOSSES[name]).parameters.values())
  assert params[0].name == "example"
  assert params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)
  for p in params[1:]:
    assert p.kind is p.KEYWORD_ONLY, f"{name}: {p.name} is not keyword-only"
    assert p.name not in BANNED, f"{name}: {p.name} is a paper's symbol"


@pytest.mark.parametrize("name", L.__all__)
def test_public_functions_use_the_shared_vocabulary(name):
  obj = getattr(L, name)
  if not inspect.isfunction(obj):
    return
  params = inspect.signature(obj).parameters
  assert not BANNED & set(params), f"{name}: {sorted(BANNED & set(params))}"


@pytest.mark.parametrize(
  ("fn", "hyperparameters"),
  [
    (L.combined_loss, ("weights", "hparams")),
    (L.geometric_mixture, ("mixture",)),
    (L.group_robust_weights, ("step_size",)),
    (L.modpo, ("weights", "kl_coef", "hinge")),
    (L.register, ("overwrite",)),
  ],
)
def test_other_hyperparameters_are_keyword_only(fn, hyperparameters):
  params = inspect.signature(fn).parameters
  for name in hyperparameters:
    assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_registry_combination_and_custom_loss():
  e = L.Example(**PAIR, pref=1.0)
  total, aux = L.combined_loss(
    e, weights={"dpo": 1.0, "ipo": 0.5}, hparams={"ipo": {"kl_coef": 0.1}}
  )
  assert float(total) == pytest.approx(float(L.dpo(e)[0]) + 0.5 * 16)
  assert set(aux) >= {"dpo/loss", "ipo/loss", "ipo/h"}
  with pytest.raises(TypeError):
    L.combined_loss(e, {"dpo": 1.0})  # weights is keyword-only

  def hinge(example, *, margin=1.0):
    h = (example.logp - example.ref_logp) - (example.logp2 - example.ref_logp2)
    return jax.nn.relu(margin - h), {}

  L.register("test_hinge", hinge)
  try:
    assert float(L.get_loss("test_hinge")(e, margin=3.0)[0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="already registered"):
      L.register("test_hinge", hinge)
  finally:
    L.LOSSES.pop("test_hinge")


def test_unknown_names():
  with pytest.raises(ValueError, match="Unknown loss 'dpoo'"):
    L.get_loss("dpoo")
  with pytest.raises(ValueError, match="not in the combination"):
    L.combined_loss(
      L.Example(**PAIR, pref=1.0), weights={"dpo": 1.0}, hparams={"ipo": {"kl_coef": 1.0}}
    )
