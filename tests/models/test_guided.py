import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpref import models

V, KEYWORD = 10, 9
# A peaked random bigram LM: the keyword is rarely sampled but is a top-3 proposal on some paths.
TABLE = 5.0 * jax.random.normal(jax.random.key(3), (V, V), jnp.float32)
LOGP = jax.nn.log_softmax(TABLE, axis=-1)
PROMPTS = jnp.arange(V - 1)[:, None]  # every token but the keyword


def bigram_logits(tokens, length):
  return TABLE[tokens[:, length - 1]]


def has_keyword(tokens, length):
  live = jnp.arange(tokens.shape[1]) < length
  return jnp.any((tokens == KEYWORD) & live, axis=1).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("steps", "k", "lookahead", "beam"))
def _search(prefix, **kw):
  return models.lookahead_search(bigram_logits, has_keyword, prefix, **kw)


def _best_of_n(prefix, seed, *, n, steps):
  """Best-of-n ancestral samples (numpy): the keyword first, then the LM log-likelihood."""
  rng, probs, logp = np.random.default_rng(seed), np.exp(np.asarray(LOGP)), np.asarray(LOGP)
  last = np.repeat(np.asarray(prefix)[:, -1], n)
  lp, hit = np.zeros(last.shape), np.zeros(last.shape, bool)
  for _ in range(steps):
    cdf = np.cumsum(probs[last], axis=1)
    tok = np.minimum((rng.random((len(last), 1)) > cdf).sum(axis=1), V - 1)
    lp, hit, last = lp + logp[last, tok], hit | (tok == KEYWORD), tok
  lp, hit = lp.reshape(-1, n), hit.reshape(-1, n)
  best = np.argmax(np.where(hit, 1e3, 0.0) + lp, axis=1)
  return hit[np.arange(len(best)), best], lp[np.arange(len(best)), best]


GREEDY = dict(weight=0.0, steps=6, k=1, lookahead=0, beam=1)


def test_lookahead_search_beats_best_of_n_at_equal_or_more_lm_calls():
  kw = dict(steps=6, k=3, lookahead=2, beam=2)
  cost = models.lookahead_cost(**kw)
  assert cost == 6 * 2 * (1 + 3 * 2)
  res = _search(PROMPTS, weight=10.0, **kw)
  assert res.lm_calls == cost
  # The reported log-likelihood and heuristic are those of the returned tokens.
  toks = np.asarray(res.tokens)
  want_lp = np.asarray(LOGP)[toks[:, :-1], toks[:, 1:]].sum(axis=1)
  np.testing.assert_allclose(res.log_prob, want_lp, rtol=1e-5)
  np.testing.assert_array_equal(res.heuristic, (toks == KEYWORD).any(axis=1))
  search_sat = float(res.heuristic.mean())

  for n in (cost // 6, 2 * cost // 6):  # the same LM calls, then twice as many
    hit, lp = zip(*(_best_of_n(PROMPTS, seed, n=n, steps=6) for seed in range(8)), strict=True)
    hit, lp = np.stack(hit), np.stack(lp)  # [seeds, prompts]
    # Satisfaction: search 1.0 vs best-of-14 0.57 and best-of-28 0.78 (greedy: 0.22).
    assert search_sat == 1.0 and hit.mean() < 0.85, (n, search_sat, hit.mean())
    # Mean LM log-likelihood where both satisfy the constraint (same prompt and seed): search
    # -2.55 vs best-of-14 -2.71, search -2.96 vs best-of-28 -3.15.
    search_ll = np.broadcast_to(np.asarray(res.log_prob), hit.shape)[hit].mean()
    assert search_ll > lp[hit].mean(), (n, search_ll, lp[hit].mean())
  greedy = _search(PROMPTS, **GREEDY)
  assert float(greedy.heuristic.mean()) < 0.5
  assert float(greedy.log_prob.mean()) > float(res.log_prob.mean())  # the keyword costs


def test_greedy_settings_are_greedy_decoding():
  res = _search(PROMPTS, **GREEDY)
  seq = np.asarray(PROMPTS)
  for _ in range(6):
    seq = np.concatenate([seq, np.argmax(np.asarray(TABLE)[seq[:, -1]], -1)[:, None]], axis=1)
  np.testing.assert_array_equal(res.tokens, seq)


def test_lookahead_cost_counts_the_lm_calls():
  calls, rows = [0], [0]
  table = np.asarray(TABLE)

  def host_logits(tokens, length):  # plain numpy, run on the host at every call
    calls[0] += 1
    rows[0] += tokens.shape[0]
    return table[tokens[:, int(length) - 1]]

  def counting_logits(tokens, length):
    shape = jax.ShapeDtypeStruct((tokens.shape[0], V), jnp.float32)
    return jax.pure_callback(host_logits, shape, tokens, length)

  kw = dict(steps=3, k=2, lookahead=2, beam=3)
  prefix = jnp.asarray([[1, 4], [2, 5]])
  res = jax.jit(
    lambda p: models.lookahead_search(counting_logits, has_keyword, p, weight=1.0, **kw)
  )(prefix)
  assert calls[0] == 3 * (1 + 2)  # batched invocations: steps * (1 + lookahead)
  assert rows[0] == 2 * models.lookahead_cost(**kw) == 2 * res.lm_calls
  assert res.tokens.shape == (2, 5)


TINY = models.LlamaConfig(
  vocab_size=40, dim=16, num_layers=2, num_heads=4, num_kv_heads=2, hidden_dim=24, max_len=64
)
EOS, REWARDED = 39, 5
DISTINCT = [[1, 2, 3], [7, 20], [11, 4, 9, 30, 2], [25]]
LM_PROMPTS = DISTINCT * 4  # 16 rows; K = 4 candidates of the distinct prompts is 16 rows too
GUIDED = dict(max_new_tokens=8, eos_id=EOS, buckets=(8,))  # with chunk 4: one compiled sampler


@pytest.fixture(scope="module")
def llama():
  return nnx.split(models.Llama(TINY, rngs=nnx.Rngs(0)))


def count_rewarded(rows, tokens, mask):
  return jnp.sum((tokens == REWARDED) & mask, axis=1).astype(jnp.float32)


def _check_valid(out, rows, pad_id):
  tokens, mask = np.asarray(out.tokens), np.asarray(out.mask)
  assert tokens.shape == mask.shape == (rows, 8)
  for row, m in zip(tokens, mask, strict=True):
    hits = np.nonzero(row == EOS)[0]
    n = hits[0] + 1 if len(hits) else 8
    assert m[:n].all() and not m[n:].any() and (row[n:] == pad_id).all()
  return (tokens == EOS).any(axis=1).sum()


def test_rerank_with_one_candidate_is_a_valid_sample_and_greedy_is_greedy(llama):
  guide = models.RerankGuide(count_rewarded, candidates=1, chunk=4)
  ended = 0
  for s in range(4):
    out = models.guided_generate(
      llama, LM_PROMPTS, jax.random.key(s), guide=guide, pad_id=0, **GUIDED
    )
    ended += _check_valid(out, 16, 0)
  assert ended > 0  # some rows did stop
  # Re-prefilling each chunk (with left padding) does not change greedy decoding.
  greedy = models.generate(llama, LM_PROMPTS, jax.random.key(0), temperature=0.0, **GUIDED)
  out = models.guided_generate(
    llama, LM_PROMPTS, jax.random.key(0), guide=guide, temperature=0.0, **GUIDED
  )
  np.testing.assert_array_equal(out.tokens, greedy.tokens)
  np.testing.assert_array_equal(out.mask, greedy.mask)


def test_rerank_raises_the_rewarded_tokens_frequency(llama):
  freq = {}
  for K, prompts, keys in ((1, LM_PROMPTS, 4), (4, DISTINCT, 16)):  # 64 responses each
    guide = models.RerankGuide(count_rewarded, candidates=K, chunk=4)
    counts = []
    for s in range(keys):
      out = models.guided_generate(llama, prompts, jax.random.key(s), guide=guide, **GUIDED)
      _check_valid(out, len(prompts), EOS)
      counts.append(np.asarray(count_rewarded(None, out.tokens, out.mask)))
    freq[K] = np.concatenate(counts).mean()
  assert freq[4] > 2 * freq[1], freq
  assert models.guided_cost(max_new_tokens=8, candidates=4, chunk=2) == 4 * (8 + 4)
  assert models.guided_cost(max_new_tokens=8, candidates=1, chunk=8) == 8 + 1  # plain sampling


def test_bad_requests(llama):
  search = dict(steps=2, k=1, lookahead=0, beam=1, weight=0.0)
  for bad, match in (
    (dict(k=0), "k .* must be >= 1"),
    (dict(beam=0), "beam must be >= 1"),
    (dict(lookahead=-1), "lookahead must be >= 0"),
    (dict(steps=0), "steps must be >= 1"),
  ):
    with pytest.raises(ValueError, match=match):
      _search(PROMPTS, **{**search, **bad})
  with pytest.raises(ValueError, match="beam must be >= 1"):
    models.lookahead_cost(2, 1, 0, 0)
  for K, L, match in ((0, 2, "candidates must be >= 1"), (2, 0, "chunk"), (2, 5, "chunk")):
    guide = models.RerankGuide(count_rewarded, candidates=K, chunk=L)
    with pytest.raises(ValueError, match=match):
      models.guided_generate(
        llama, [[1]], jax.random.key(0), guide=guide, max_new_tokens=4, eos_id=1
      )
    with pytest.raises(ValueError, match=match):
      models.guided_cost(max_new_tokens=4, candidates=K, chunk=L)
