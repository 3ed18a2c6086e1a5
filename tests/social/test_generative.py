import numpy as np
import pytest

from jaxpref import social


@pytest.mark.parametrize("seed", range(20))
def test_greedy_slate_satisfies_bjr(seed):
  rng = np.random.default_rng(seed)
  n, S, k = 12, 8, int(rng.choice([2, 3, 4, 6]))
  U = rng.integers(0, 5, size=(n, S)).astype(float)
  slate, match = social.greedy_slate(U, k)
  assert len(slate) == k and np.all(np.bincount(match, minlength=k) == n // k)
  assert social.check_bjr(U, slate, match) is None


def test_bjr_detects_a_bad_slate():
  # Half the agents love statement 1; a slate of statement 0 twice ignores them.
  U = np.array([[1.0, 0], [1, 0], [0, 3], [0, 3]])
  v = social.check_bjr(U, [0, 0], np.array([0, 0, 1, 1]))
  assert v is not None and v["statement"] == 1 and set(v["agents"]) == {2, 3}


def test_bad_inputs():
  with pytest.raises(ValueError, match="must divide"):
    social.greedy_slate(np.ones((5, 2)), 2)
  with pytest.raises(ValueError, match="finite"):
    social.greedy_slate(np.array([[np.nan, 1.0], [1, 1]]), 1)
  with pytest.raises(ValueError, match="exactly n/k"):
    social.check_bjr(np.ones((4, 2)), [0, 1], np.array([0, 0, 0, 1]))
