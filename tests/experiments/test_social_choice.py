import json

import pytest

from configs import social_choice as config_lib
from experiments import social_choice, train_lib
from tests.experiments.test_train import _cli


@pytest.mark.slow  # over 8 s of the 10-minute default suite
def test_cli_on_packaged_llmfao(tmp_path):
  proc = _cli("--config", "configs/social_choice.py:datasets=llmfao", "--workdir", str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = json.loads((tmp_path / "results.json").read_text())["llmfao"]
  assert r["candidates"] == 59 and r["judgments"] == 8931 and r["condorcet_winner"] is None
  assert r["winners"]["prompts/borda"] == ["GPT 4"] and r["winners"]["copeland"] == ["command"]
  # configs/social_choice.py's docstring: 19 rules, 13 different winner sets, leximax LLaMA-2-Chat
  # (70B), Copeland and BT command, Smith set all 59 (unjudged pairs are ties).
  assert len(r["winners"]) == 19 and r["distinct_winner_sets"] == 13
  assert r["winners"]["leximax"] == ["LLaMA-2-Chat (70B)"]
  assert r["winners"]["bradley_terry"] == ["command"]
  assert r["winners"]["prompts/minimax"] == r["winners"]["prompts/mean"] == ["GPT 4"]
  assert len(r["smith_set"]) == 59
  assert abs(sum(p for _, p in r["maximal_lottery"])) <= 1 + 1e-9
  assert (tmp_path / "rule_disagreement.png").stat().st_size > 10_000


def test_surveys_on_shared_data(shared_data, tmp_path):
  config = config_lib.get_config("datasets=topmodel2007+cemschoice,plot=false")
  config.data.paircomp_dir = str(shared_data / "paircomp")
  results = train_lib.train_and_evaluate(config, str(tmp_path))
  top = results["topmodel2007"]
  assert top["condorcet_winner"] == "Barbara" == top["pairwise_condorcet_winner"]
  assert top["winners"]["ballots/borda"] == ["Hana"] and top["winners"]["bradley_terry"] == ["Hana"]
  assert top["linear_ballots"] == 113
  assert results["cemschoice"]["winners"]["ballots/kemeny_young"] == ["London"]


def test_missing_files_are_skipped(tmp_path, capsys):
  config = config_lib.get_config("datasets=gpt4+firstnames,plot=false")
  config.data.gpt4 = str(tmp_path / "none.csv")
  config.data.paircomp_dir = str(tmp_path)
  assert social_choice.run(config, str(tmp_path)) == {}
  out = capsys.readouterr().out
  assert "skipping gpt4" in out and "skipping firstnames" in out


def test_unknown_dataset():
  with pytest.raises(ValueError, match="Unknown dataset"):
    train_lib.validate_config(config_lib.get_config("datasets=llmfao+imdb"))
