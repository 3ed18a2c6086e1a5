import jax.numpy as jnp
import pytest

from jaxpref import losses as L  # noqa: N812

from ._helpers import PAIR


def test_missing_and_bad_fields_are_named():
  with pytest.raises(ValueError, match=r"needs Example\.pref"):
    L.dpo(L.Example(**PAIR))
  with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
    L.dpo(L.Example(**PAIR, pref=1.5))
  with pytest.raises(ValueError, match="finite"):
    L.ipo(L.Example(**{**PAIR, "logp": jnp.nan}, pref=1.0))
  with pytest.raises(ValueError, match="must share one shape"):
    L.dpo(
      L.Example(
        logp=jnp.ones(3),
        logp2=jnp.ones(2),
        ref_logp=jnp.ones(3),
        ref_logp2=jnp.ones(3),
        pref=jnp.ones(3),
      )
    )


def test_example_weight_scales_the_loss():
  e = L.Example(**PAIR, pref=0.8)
  assert float(L.dpo(e._replace(weight=2.5))[0]) == pytest.approx(2.5 * float(L.dpo(e)[0]))


def test_reference_log_probabilities_are_named_ref_logp():
  assert {"ref_logp", "ref_logp2"} <= set(L.Example._fields)
  assert not {"ref", "ref2"} & set(L.Example._fields)
  with pytest.raises(ValueError, match=r"needs Example\.ref_logp"):
    L.dpo(L.Example(logp=-1.0, logp2=-2.0, pref=1.0))
