"""Gao et al.'s laws: exact recovery of the spec's peaks, and errors."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpref import overoptimization as oo


def test_best_of_n_law_recovers_the_spec_peak():
  d = jnp.linspace(0.1, 4.0, 30)
  fit = oo.fit_scaling_law(d, oo.scaling_law(d, slope=1.0, decay=0.25, form="bon"), form="bon")
  assert (float(fit.slope), float(fit.decay)) == pytest.approx((1.0, 0.25), abs=1e-9)
  assert (float(fit.peak_distance), float(fit.peak_value)) == pytest.approx((2.0, 1.0), abs=1e-9)


def test_rl_law_recovers_the_spec_peak():
  d = jnp.linspace(0.5, 30.0, 40)
  fit = oo.fit_scaling_law(d, oo.scaling_law(d, slope=1.0, decay=0.25, form="rl"), form="rl")
  assert float(fit.peak_distance) == pytest.approx(np.exp(3.0), rel=1e-9)  # 20.0855
  assert float(fit.peak_value) == pytest.approx(5.0214, abs=1e-4)


def test_a_law_without_over_optimization_has_no_peak():
  d = jnp.linspace(0.1, 3.0, 10)
  fit = oo.fit_scaling_law(d, 0.5 * d + 0.1 * d**2, form="bon")
  assert float(fit.decay) < 0 and np.isinf(float(fit.peak_distance))


def test_bad_input_is_refused():
  with pytest.raises(ValueError, match="Unknown scaling-law form"):
    oo.fit_scaling_law(jnp.ones(3), jnp.ones(3), form="linear")
  with pytest.raises(ValueError, match="at least 2 points"):
    oo.fit_scaling_law(jnp.array([0.0, 1.0]), jnp.array([0.0, 1.0]), form="bon")
  with pytest.raises(ValueError, match="matching"):
    oo.fit_scaling_law(jnp.ones(3), jnp.ones(4), form="rl")
