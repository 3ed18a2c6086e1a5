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
  train, test = data.split_comparisons(topmodel, 0.25, seed=0)
  assert test.num_comparisons == 720 and train.num_comparisons == 2160
  assert train.items == topmodel.items and train.annotators == topmodel.annotators

  def rows(t):
    return set(zip(t.annotator.tolist(), t.item_a.tolist(), t.item_b.tolist(), strict=True))

  assert rows(train) | rows(test) == rows(topmodel) and not rows(train) & rows(test)
  again, _ = data.split_comparisons(topmodel, 0.25, seed=0)
  np.testing.assert_array_equal(again.annotator, train.annotator)
  with pytest.raises(ValueError, match="non-empty"):
    data.split_comparisons(topmodel, 1.0, seed=0)


def test_split_annotators_holds_out_people(topmodel):
  train, test = data.split_annotators(topmodel, 0.25, seed=1)
  assert len(set(test.annotator.tolist())) == 48
  assert not set(train.annotator.tolist()) & set(test.annotator.tolist())
  assert train.num_comparisons + test.num_comparisons == topmodel.num_comparisons
  assert test.covariates["age"].shape == (test.num_comparisons,)
  judge = topmodel._replace(annotators=())
  with pytest.raises(ValueError, match="names no annotators"):
    data.split_annotators(judge, 0.25, seed=1)


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
