import pytest

from configs import common


def test_parse_arg_types_and_bare_booleans():
  arg = common.parse_arg("games=llmfao,top_k=5,plot", games="all", top_k=10, plot=False, tol=1e-9)
  assert (arg.games, arg.top_k, arg.plot, arg.tol) == ("llmfao", 5, True, 1e-9)
  assert common.parse_arg("", top_k=3).top_k == 3
  assert common.parse_arg("plot=false", plot=True).plot is False


@pytest.mark.parametrize(
  "arg, message",
  [
    ("gmes=all", "Unknown config argument 'gmes'"),
    ("top_k=many", "expected int"),
    ("top_k", "needs a value"),
    ("plot=maybe", "expected a boolean"),
  ],
)
def test_parse_arg_errors(arg, message):
  with pytest.raises(ValueError, match=message):
    common.parse_arg(arg, games="all", top_k=10, plot=False)
