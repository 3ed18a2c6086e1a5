"""Ranking tables: the CSV loader, rankings read off complete transitive comparisons (LLMFAO too),
and the padded rows a Plackett-Luce model is fitted on."""

import numpy as np
import pytest

from jaxpref import data
from jaxpref import preference as pm

CSV = """ranking,item,position,who
r1,b,2,ann
r1,a,1,ann
r1,c,3,ann
r2,c,1,bob
r2,a,2,bob
r2,b,2,bob
r3,a,1,bob
r3,b,1,bob
"""


def test_load_rankings_and_pad_them_up_to_the_first_tie(tmp_path):
  path = tmp_path / "r.csv"
  path.write_text(CSV)
  table = data.load_rankings(path, annotator="who")
  assert table.items == ("a", "b", "c") and table.annotators == ("ann", "bob")
  assert [r[0].tolist() for r in table.rankings] == [[0, 1, 2], [2, 0, 1], [0, 1]]
  assert [r[1].tolist() for r in table.rankings] == [[1, 2, 3], [1, 2, 2], [1, 1]]
  assert table.annotator.tolist() == [0, 1, 1]
  rows, dropped = pm.rankings_from_table(table, width=4)
  assert dropped == 1  # r3 is tied at the top
  assert rows.items.tolist() == [[0, 1, 2, -1], [2, 0, 1, -1]]
  assert rows.num_ranked.tolist() == [2, 1]  # r2: c chosen among {c, a, b}, then a = b
  pm.check_rankings(rows, 3)


@pytest.mark.parametrize(
  "text, message",
  [
    ("ranking,item\nr,a\n", r"missing column\(s\) 'position'"),
    ("ranking,item,position\n", "no rankings"),
    ("ranking,item,position\nr,a,first\nr,b,2\n", "line 2: position 'first'"),
    ("ranking,item,position\nr,a,1\nr,a,2\n", "line 3: item 'a' appears twice"),
    ("ranking,item,position\nr,a,1\n", "has 1 item"),
  ],
)
def test_bad_ranking_files_are_clear_errors(tmp_path, text, message):
  path = tmp_path / "bad.csv"
  path.write_text(text)
  with pytest.raises(ValueError, match=message):
    data.load_rankings(path)
  with pytest.raises(FileNotFoundError):
    data.load_rankings(tmp_path / "none.csv")


def test_rankings_from_complete_transitive_comparisons():
  # Annotator 0 on prompt 0: a > b > c, complete and transitive; annotator 1: a cycle; annotator 2:
  # incomplete; annotator 3: a weak order a > b = c.
  rows = [
    (0, 0, 1, 1.0), (0, 1, 2, 1.0), (0, 0, 2, 1.0),
    (1, 0, 1, 1.0), (1, 1, 2, 1.0), (1, 2, 0, 1.0),
    (2, 0, 1, 1.0), (2, 1, 2, 1.0),
    (3, 0, 1, 1.0), (3, 1, 2, 0.5), (3, 2, 0, 0.0),
  ]  # fmt: skip
  who, a, b, y = (np.array(c) for c in zip(*rows, strict=True))
  table = data.Comparisons(a, b, y.astype(float), ("a", "b", "c"), np.zeros(len(rows), int), who)
  rankings, skipped = data.rankings_from_comparisons(table)
  assert skipped == 2 and rankings.annotator.tolist() == [0, 3]
  assert [r[0].tolist() for r in rankings.rankings] == [[0, 1, 2], [0, 1, 2]]
  assert [r[1].tolist() for r in rankings.rankings] == [[1, 2, 3], [1, 2, 2]]


def test_llmfao_per_prompt_rankings_fit_plackett_luce():
  table = data.load_llmfao()
  rankings, skipped = data.rankings_from_comparisons(table)
  groups = np.unique(np.stack([table.annotator, table.prompt], axis=1), axis=0)
  assert len(rankings.rankings) + skipped == len(groups)
  if not rankings.rankings:
    pytest.skip("no complete transitive group in LLMFAO")
  rows, _ = pm.rankings_from_table(rankings)
  fit = pm.fit_rankings(pm.PlackettLuce(table.num_items, l2=0.1), rows)
  assert np.all(np.isfinite(fit.params["scores"]))
