import numpy as np
import pytest

from jaxpref import data

HEADER = "subject,item_a,item_b,outcome,age\n"


def _write(tmp_path, text, name="c.csv"):
  path = tmp_path / name
  path.write_text(text)
  return path


@pytest.fixture(scope="module")
def topmodel(shared_data):
  return data.load_comparisons(shared_data / "paircomp" / "Topmodel2007.csv")


def test_paircomp_surveys_load(shared_data, topmodel):
  assert topmodel.num_comparisons == 192 * 15
  assert topmodel.num_items == 6 and topmodel.num_annotators == 192
  assert set(topmodel.covariates) == {"gender", "age", "q1", "q2", "q3"}
  assert set(np.unique(topmodel.outcome)) == {0.0, 1.0}
  cems = data.load_comparisons(shared_data / "paircomp" / "CEMSChoice.csv")
  assert cems.num_annotators == 303
  np.testing.assert_allclose(np.mean(cems.outcome == 0.5), 487 / 4454)  # ties kept
  sound = data.load_comparisons(shared_data / "paircomp" / "SoundQuality.csv")
  assert (sound.num_items, sound.num_annotators, sound.num_comparisons) == (8, 783, 21924)


def test_football_columns(shared_data):
  games = data.load_comparisons(
    shared_data / "paircomp" / "football.csv", item_a="home", item_b="away", annotator="season"
  )
  assert games.num_comparisons == 1900 and games.num_items == 29
  assert games.annotators == ("2008-9", "2009-10", "2010-11", "2011-12", "2012-13")
  # Home wins 46.4%, draws 26.6%: draws are ties, the home side is item_a.
  np.testing.assert_allclose(np.mean(games.outcome == 1.0), 0.4642, atol=1e-4)
  np.testing.assert_allclose(np.mean(games.outcome == 0.5), 0.2658, atol=1e-4)


def test_user_path_custom_codes_and_numeric_annotator_order(tmp_path):
  path = _write(tmp_path, "who,x,y,res\n10,a,b,A\n9,b,c,draw\n10,c,a,B\n")
  table = data.load_comparisons(
    path,
    item_a="x",
    item_b="y",
    outcome="res",
    annotator="who",
    outcome_codes={"A": 1.0, "B": 0.0, "draw": 0.5},
  )
  assert table.items == ("a", "b", "c")
  assert table.annotators == ("9", "10")  # numeric ids sorted as numbers
  np.testing.assert_array_equal(table.annotator, [1, 0, 1])
  np.testing.assert_array_equal(table.outcome, [1.0, 0.5, 0.0])
  assert table.covariates == {}


def test_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="No comparisons file"):
    data.load_comparisons(tmp_path / "nope.csv")


def test_empty_file_and_header_only(tmp_path):
  with pytest.raises(ValueError, match="empty file"):
    data.load_comparisons(_write(tmp_path, ""))
  with pytest.raises(ValueError, match="no rows"):
    data.load_comparisons(_write(tmp_path, HEADER))


def test_missing_column_is_named(tmp_path):
  path = _write(tmp_path, "subject,item_a,result\n1,a,1\n")
  with pytest.raises(ValueError, match=r"missing column\(s\) 'item_b', 'outcome'"):
    data.load_comparisons(path)


def test_unknown_outcome_names_line_and_value(tmp_path):
  path = _write(tmp_path, HEADER + "1,a,b,1,30\n1,a,c,2,30\n")
  with pytest.raises(ValueError, match=r"line 3: outcome '2' in column 'outcome'"):
    data.load_comparisons(path)


def test_item_that_never_appears_and_unknown_item(tmp_path):
  path = _write(tmp_path, HEADER + "1,a,b,1,30\n")
  with pytest.raises(ValueError, match=r"\['c'\] never appear"):
    data.load_comparisons(path, items=["a", "b", "c"])
  with pytest.raises(ValueError, match=r"\['b'\] are not in the given items"):
    data.load_comparisons(path, items=["a"])


def test_self_comparison_and_empty_item(tmp_path):
  with pytest.raises(ValueError, match="line 2: item 'a' is compared with itself"):
    data.load_comparisons(_write(tmp_path, HEADER + "1,a,a,1,30\n"))
  with pytest.raises(ValueError, match="line 2: empty item cell"):
    data.load_comparisons(_write(tmp_path, HEADER + "1,,a,1,30\n"))


def test_bad_outcome_codes():
  with pytest.raises(ValueError, match=r"outcome_codes\['w'\] = 2"):
    data.load_comparisons(__file__, outcome_codes={"w": 2.0})


def test_split_comparisons_is_a_partition(topmodel):
  train, test = data.split_comparisons(topmodel, test_fraction=0.25, seed=0)
  assert test.num_comparisons == 720 and train.num_comparisons == 2160
  assert train.items == topmodel.items and train.annotators == topmodel.annotators

  def rows(t):
    return set(zip(t.annotator.tolist(), t.item_a.tolist(), t.item_b.tolist(), strict=True))

  assert rows(train) | rows(test) == rows(topmodel) and not rows(train) & rows(test)
  again, _ = data.split_comparisons(topmodel, test_fraction=0.25, seed=0)
  np.testing.assert_array_equal(again.annotator, train.annotator)
  with pytest.raises(ValueError, match="non-empty"):
    data.split_comparisons(topmodel, test_fraction=1.0, seed=0)
  with pytest.raises(TypeError):
    data.split_comparisons(topmodel, 0.25, 0)  # test_fraction and seed are keyword-only


def test_split_annotators_holds_out_people(topmodel):
  train, test = data.split_annotators(topmodel, test_fraction=0.25, seed=1)
  assert len(set(test.annotator.tolist())) == 48
  assert not set(train.annotator.tolist()) & set(test.annotator.tolist())
  assert train.num_comparisons + test.num_comparisons == topmodel.num_comparisons
  assert test.covariates["age"].shape == (test.num_comparisons,)
  judge = topmodel._replace(annotators=())
  with pytest.raises(ValueError, match="names no annotators"):
    data.split_annotators(judge, test_fraction=0.25, seed=1)


def test_covariate_matrix(topmodel):
  x, labels = data.covariate_matrix(topmodel, ["age", "gender"])
  assert labels == ("age", "gender=male")
  assert x.shape == (192, 2)
  np.testing.assert_allclose([x[:, 0].mean(), x[:, 0].std()], [0.0, 1.0], atol=1e-12)
  assert set(np.unique(x[:, 1])) == {0.0, 1.0}
  first = np.flatnonzero(topmodel.annotator == 0)[0]
  assert x[0, 1] == (topmodel.covariates["gender"][first] == "male")
  with pytest.raises(ValueError, match="Unknown covariate 'height'"):
    data.covariate_matrix(topmodel, ["height"])


VENUES = (
  "home,away,outcome,venue,season\n"
  "ars,che,1,1,1\n"
  "che,liv,0,neutral,1\n"
  "liv,ars,-1,-1,2\n"
  "ars,liv,1,0,2\n"
  "che,ars,0, Away ,3\n"
  "liv,che,1,+1.0,3\n"
)


def test_advantage_column_is_read_per_row(tmp_path):
  path = _write(tmp_path, VENUES)
  table = data.load_comparisons(
    path, item_a="home", item_b="away", annotator="season", advantage="venue"
  )
  np.testing.assert_array_equal(table.advantage, [1, 0, -1, 0, -1, 1])
  assert table.advantage.dtype == np.int64
  assert "venue" not in table.covariates  # a used column, not a covariate
  # Without the option the first-listed item has it in every row, as before.
  plain = data.load_comparisons(path, item_a="home", item_b="away", annotator="season")
  np.testing.assert_array_equal(plain.advantage, 1)
  np.testing.assert_array_equal(plain.covariates["venue"][:2], ["1", "neutral"])
  # Own words for the sides.
  path = _write(tmp_path, "a,b,outcome,side\nx,y,1,H\nx,y,0,N\n", "own.csv")
  table = data.load_comparisons(
    path, item_a="a", item_b="b", annotator=None, advantage="side",
    advantage_codes={"H": 1, "A": -1, "N": 0},
  )  # fmt: skip
  np.testing.assert_array_equal(table.advantage, [1, 0])


def test_advantage_stays_aligned_through_select_and_splits(tmp_path):
  table = data.load_comparisons(
    _write(tmp_path, VENUES), item_a="home", item_b="away", annotator="season", advantage="venue"
  )
  picked = data.select(table, np.array([5, 2, 1]))
  np.testing.assert_array_equal(picked.advantage, [1, -1, 0])
  for split in (data.split_comparisons, data.split_annotators):
    train, test = split(table, test_fraction=0.34, seed=3)
    for part in (train, test):
      rows = [
        int(np.flatnonzero((table.item_a == a) & (table.item_b == b) & (table.outcome == y))[0])
        for a, b, y in zip(part.item_a, part.item_b, part.outcome, strict=True)
      ]
      np.testing.assert_array_equal(part.advantage, table.advantage[rows])
    assert train.num_comparisons + test.num_comparisons == 6
  hand_built = table._replace(advantage=None)  # a table built without the column
  assert data.select(hand_built, np.array([0, 1])).advantage is None


def test_bad_advantage_code_names_line_value_and_column(tmp_path):
  path = _write(tmp_path, "home,away,outcome,venue\nars,che,1,1\nche,liv,0,2\n")
  with pytest.raises(ValueError, match=r"line 3: advantage '2' in column 'venue' is not -1, 0, 1"):
    data.load_comparisons(path, item_a="home", item_b="away", annotator=None, advantage="venue")
  path = _write(tmp_path, "home,away,outcome,venue\nars,che,1,\n")
  with pytest.raises(ValueError, match=r"line 2: advantage '' in column 'venue'"):
    data.load_comparisons(path, item_a="home", item_b="away", annotator=None, advantage="venue")
  with pytest.raises(ValueError, match=r"advantage_codes\['H'\] = 2 is not -1, 0 or 1"):
    data.load_comparisons(path, advantage_codes={"H": 2})


def test_missing_advantage_column_is_named(tmp_path):
  path = _write(tmp_path, "home,away,outcome\nars,che,1\n")
  with pytest.raises(ValueError, match=r"missing column\(s\) 'venue'"):
    data.load_comparisons(path, item_a="home", item_b="away", annotator=None, advantage="venue")
