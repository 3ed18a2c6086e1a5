r"""Best-of-n: the analytic KL, the exact policy on a categorical, and the pooled estimator.

Best-of-n draws :math:`n` responses from the reference :math:`\pi_{\mathrm{ref}}` and returns
the one a (proxy) reward scores highest. With continuous scores and no ties its KL to the
reference is (Gao, Schulman and Hilton, Scaling laws for reward model overoptimization, 2023)

.. math:: \mathrm{KL}(\pi_{\mathrm{BoN}} \,\|\, \pi_{\mathrm{ref}}) = \log n - \frac{n - 1}{n},

an upper bound on a finite support, where ties and atoms make it smaller. On a categorical
reference the best-of-n policy is exact: with the responses sorted by score,
:math:`F_{\le}(y)` and :math:`F_{<}(y)` the reference mass scoring at most and strictly less
than :math:`y`, the best of :math:`n` lands in the score level of :math:`y` with probability
:math:`F_{\le}(y)^n - F_{<}(y)^n`, shared within the level in proportion to
:math:`\pi_{\mathrm{ref}}` (ties broken uniformly among the drawn best).

From a pool of :math:`N \ge n` samples, the expected gold value of the proxy-best of :math:`n`
is estimated without bias by averaging over all :math:`\binom{N}{n}` subsets: the sample of proxy
rank :math:`k` (1 = lowest) is the best of a subset with weight
:math:`\binom{k-1}{n-1} / \binom{N}{n}`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpref.types import Array, ArrayLike


def _check_n(n: ArrayLike) -> None:
  """Raises on a concrete ``n < 1`` (traced values pass unchecked)."""
  if isinstance(n, jax.core.Tracer):
    return
  value = np.asarray(n)
  if not np.all(np.isfinite(value)) or np.any(value < 1):
    raise ValueError(f"best-of-n needs n >= 1; got {n}.")


def _levels_row(s: Array, w: Array) -> tuple[Array, Array]:
  order = jnp.argsort(s)
  s_sorted = s[order]
  cum = jnp.concatenate([jnp.zeros((1,), w.dtype), jnp.cumsum(w[order])])
  lo = jnp.searchsorted(s_sorted, s, side="left")
  hi = jnp.searchsorted(s_sorted, s, side="right")
  return cum[lo], cum[hi]


# ``(sum of weight over scores < s, over scores <= s)`` at every entry, by one sort per row.
_levels = jnp.vectorize(_levels_row, signature="(n),(n)->(n),(n)")


def _sorted_level_means_row(s: Array, v: Array) -> Array:
  order = jnp.argsort(s)
  s_sorted = s[order]
  cum = jnp.concatenate([jnp.zeros((1,), v.dtype), jnp.cumsum(v[order])])
  lo = jnp.searchsorted(s_sorted, s_sorted, side="left")
  hi = jnp.searchsorted(s_sorted, s_sorted, side="right")
  return (cum[hi] - cum[lo]) / (hi - lo)


# ``value`` in ascending order of ``score``, each entry replaced by its score level's mean.
_sorted_level_means = jnp.vectorize(_sorted_level_means_row, signature="(n),(n)->(n)")


def best_of_n_kl(n: ArrayLike) -> Array:
  r"""The best-of-n KL to the reference, :math:`\log n - (n - 1)/n`, for continuous scores.

  Args:
    n: number of draws (any shape; real values interpolate).

  Returns:
    The KL in nats, same shape as ``n``.

  Raises:
    ValueError: if a concrete ``n`` is below 1.

  Examples:
    >>> round(float(best_of_n_kl(16)), 6)
    1.835089
  """
  _check_n(n)
  n = jnp.asarray(n, jnp.result_type(float))
  return jnp.log(n) - (n - 1.0) / n


def best_of_n_policy(score: ArrayLike, n: ArrayLike, *, ref_policy: ArrayLike) -> Array:
  r"""The exact distribution of the score-best of ``n`` draws from a categorical reference.

  .. math:: \pi_n(y) = \frac{\pi_{\mathrm{ref}}(y)}{\pi_{\mathrm{ref}}([y])}
     \big(F_{\le}(y)^n - F_{<}(y)^n\big),

  where :math:`[y]` is the set of responses scoring exactly as :math:`y` does. ``n`` may be a
  traced, real value (the formula interpolates), so a grid of ``n`` vmaps.

  Args:
    score: ``[..., m]`` the scores that pick the best (e.g. a proxy reward).
    n: number of draws, ``n >= 1`` (1 returns the reference).
    ref_policy: ``[..., m]`` reference probabilities (summing to 1 over the last axis).

  Returns:
    ``[..., m]`` the best-of-n policy.

  Raises:
    ValueError: on mismatched shapes or a concrete ``n < 1``.

  Examples:
    >>> import jax.numpy as jnp
    >>> best_of_n_policy(jnp.array([0.0, 1.0]), 2, ref_policy=jnp.array([0.5, 0.5])).tolist()
    [0.25, 0.75]
  """
  _check_n(n)
  ref, score = jnp.asarray(ref_policy), jnp.asarray(score)
  if ref.shape != score.shape:
    raise ValueError(f"ref_policy and score must have one shape; got {ref.shape}, {score.shape}.")
  n = jnp.asarray(n, ref.dtype)
  f_lt, f_le = _levels(score, ref)
  mass = f_le - f_lt
  share = jnp.where(mass > 0, ref / jnp.where(mass > 0, mass, 1.0), 0.0)
  return share * (jnp.minimum(f_le, 1.0) ** n - f_lt**n)


def best_of_n_estimate(proxy: ArrayLike, gold: ArrayLike, n: ArrayLike) -> Array:
  r"""Unbiased estimate of the gold value of the proxy-best of ``n`` from a pool of samples.

  .. math:: \hat V_n = \sum_{k=1}^{N} \frac{\binom{k-1}{n-1}}{\binom{N}{n}}\, g_{(k)},

  with :math:`g_{(k)}` the gold value of the sample of proxy rank :math:`k` (ascending). Samples
  with equal proxy scores share their mean gold value (the best is then a uniform pick among
  them). With ``proxy = gold`` this is the expected best of ``n`` gold values.

  Args:
    proxy: ``[..., N]`` proxy scores of N i.i.d. samples from the reference.
    gold: ``[..., N]`` their gold values (a reward, or a win indicator against a reference).
    n: subset size, ``1 <= n <= N`` (may be traced; real values interpolate via log-gamma).

  Returns:
    ``[...]`` the estimate.

  Raises:
    ValueError: on mismatched shapes, or a concrete ``n`` outside ``[1, N]``.

  Examples:
    >>> import jax.numpy as jnp
    >>> proxy, gold = jnp.array([0.0, 1.0, 2.0]), jnp.array([3.0, 4.0, 5.0])
    >>> round(float(best_of_n_estimate(proxy, gold, 2)), 4)
    4.6667
  """
  proxy, gold = jnp.asarray(proxy), jnp.asarray(gold)
  if proxy.shape != gold.shape or proxy.ndim < 1:
    raise ValueError(
      f"proxy and gold must have one shape [..., N]; got {proxy.shape}, {gold.shape}."
    )
  N = proxy.shape[-1]
  _check_n(n)
  if not isinstance(n, jax.core.Tracer) and np.any(np.asarray(n) > N):
    raise ValueError(f"best-of-n from a pool of {N} samples needs n <= {N}; got {n}.")
  dtype = jnp.result_type(gold.dtype, float)
  g = _sorted_level_means(proxy, gold.astype(dtype))  # by proxy rank; ties share their mean
  n = jnp.asarray(n, dtype)
  k = jnp.arange(1, N + 1, dtype=dtype)
  lgamma = jax.scipy.special.gammaln
  # log C(k-1, n-1) - log C(N, n); zero weight where k < n.
  log_w = (
    lgamma(k) - lgamma(jnp.maximum(k - n + 1, 1.0)) - lgamma(n)
    - (lgamma(N + 1.0) - lgamma(n + 1.0) - lgamma(N - n + 1.0))
  )  # fmt: skip
  w = jnp.where(k >= n, jnp.exp(log_w), 0.0)
  return jnp.sum(w * g, axis=-1) / jnp.sum(w)
