import filecmp
import os

import numpy as np
import pytest

from jaxpref import data
from jaxpref.data import load_llmfao
from jaxpref.data._llmfao import default_llmfao_path

HEADER = "id,prompt,model_x,model_y,worker,winner,left,right\n"


def test_packaged_crowd_file():
  table = load_llmfao()
  assert table.outcome.size == 8931
  assert len(table.items) == 59
  assert len(set(table.annotator.tolist())) == 124
  assert len(set(table.prompt.tolist())) == 13
  assert set(np.unique(table.outcome)) == {0.0, 0.5, 1.0}
  assert np.all(table.item_a != table.item_b)
  assert list(table.items) == sorted(table.items)
  # First row: "0,8,97,98,58,tie,Airoboros L2 70B,Weaver 12k".
  assert table.items[table.item_a[0]] == "Airoboros L2 70B"
  assert table.items[table.item_b[0]] == "Weaver 12k"
  assert table.outcome[0] == 0.5


def test_packaged_copy_is_the_shared_file_and_other_files_load(shared_data):
  assert filecmp.cmp(default_llmfao_path(), shared_data / "llmfao" / "crowd-comparisons.csv")
  gpt4 = load_llmfao(shared_data / "llmfao" / "gpt4-crowd-comparisons.csv")
  assert gpt4.outcome.size == 2139
  assert np.all(gpt4.annotator == -1)  # one judge, no worker column


def test_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="No LLMFAO comparisons file"):
    load_llmfao(tmp_path / "nope.csv")


def test_missing_columns(tmp_path):
  path = tmp_path / "bad.csv"
  path.write_text("id,prompt,model_x,model_y,winner,left\n0,1,2,3,left,a\n")
  with pytest.raises(ValueError, match=r"missing column\(s\) right"):
    load_llmfao(path)


def test_empty_table(tmp_path):
  path = tmp_path / "empty.csv"
  path.write_text(HEADER)
  with pytest.raises(ValueError, match="no rows"):
    load_llmfao(path)


def test_bad_winner_names_line(tmp_path):
  path = tmp_path / "bad.csv"
  path.write_text(HEADER + "0,1,2,3,4,left,a,b\n1,1,2,3,5,draw,a,b\n")
  with pytest.raises(ValueError, match="line 3: winner 'draw'"):
    load_llmfao(path)


def test_texts_join_judgments_with_the_judged_responses():
  t = data.load_llmfao_texts()
  assert len(t.left) == len(t.right) == t.outcome.shape[0] == 8931
  assert len(t.prompts) == 19 and len(np.unique(t.pair)) == 2139
  assert t.left[0].startswith("For Kubernetes, a plea,")  # results.jsonl row 0 (model 97)
  assert "kubernetes" in t.prompts[int(t.prompt[0])]


def test_gpt4_judges_the_same_pairs_and_disagrees_with_the_crowd_in_part():
  crowd, gpt4 = data.load_llmfao_texts(), data.load_llmfao_texts(judge="gpt4")
  assert gpt4.outcome.shape[0] == len(np.unique(gpt4.pair)) == 2139  # one verdict per pair
  key = lambda t, i: (int(t.prompt[i]), t.left[i], t.right[i])  # noqa: E731
  crowd_mean = {}
  for i in range(crowd.outcome.shape[0]):
    crowd_mean.setdefault(key(crowd, i), []).append(crowd.outcome[i])
  both = [(np.mean(crowd_mean[key(gpt4, i)]), gpt4.outcome[i]) for i in range(2139)]
  decisive = [(c > 0.5) == (g > 0.5) for c, g in both if c != 0.5 and g != 0.5]
  assert len(both) == 2139 and 0.55 < np.mean(decisive) < 0.9  # related judges, not the same
  with pytest.raises(ValueError, match="unknown judge 'gpt5'; known: crowd, gpt4"):
    data.load_llmfao_texts(judge="gpt5")


def test_text_loader_errors(tmp_path):
  import shutil

  with pytest.raises(FileNotFoundError):
    data.load_llmfao_texts(tmp_path)
  for name in ("crowd-comparisons.csv", "prompts.jsonl"):
    shutil.copy(os.path.join(os.path.dirname(data.default_llmfao_path()), name), tmp_path)
  (tmp_path / "results.jsonl").write_text('{"prompt": 8, "model": 97}\n')
  with pytest.raises(ValueError, match="missing field"):
    data.load_llmfao_texts(tmp_path)
  (tmp_path / "results.jsonl").write_text('{"prompt": 8, "model": 97, "result": "x"}\n')
  with pytest.raises(ValueError, match="no response of model 98 to prompt 8"):
    data.load_llmfao_texts(tmp_path)
