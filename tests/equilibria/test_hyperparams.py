import pytest

from jaxpref import equilibria as eq


def test_converters_round_trip_inpo_and_egpo():
  assert eq.from_inpo(eta=0.01, tau=0.002) == {"step_size": 100.0, "kl_coef": 0.002}
  assert eq.from_egpo(lr=0.02, beta=0.01, num_actions=10)["step_size"] == pytest.approx(0.8)
  assert eq.from_sppo(beta=1e-3) == {"step_size": 1000.0}
  assert eq.from_dno(eta=0.5) == {"step_size": 2.0}
  assert eq.ipo_target(kl_coef=0.1) == pytest.approx(5.0)
  with pytest.raises(ValueError):
    eq.from_trl(mixture_coef=1.5)


def test_converted_dicts_build_the_solvers():
  nlhf = eq.from_nlhf(tau=0.02, eta=0.5, beta=0.125)
  assert nlhf == {"kl_coef": 0.02, "step_size": 0.5, "mixture": 0.125}
  solver = eq.nash_md(kl_coef=nlhf["kl_coef"], step_size=nlhf["step_size"])
  assert solver.hparams == {"kl_coef": 0.02, "step_size": 0.5}
  mmd = eq.from_mmd(alpha=0.1, eta=0.1 / 9, max_abs_payoff=3.0)
  assert eq.magnetic_mirror_descent(**mmd).kl_coef == pytest.approx(0.1 / 6)
  assert eq.online_mirror_descent(**eq.from_inpo(eta=0.5, tau=0.1)).hparams["step_size"] == 2.0
  assert eq.from_trl(mixture_coef=0.5) == {"mixture": 0.5}


@pytest.mark.parametrize(
  ("converter", "kwargs"),
  [
    (eq.from_nlhf, {"tau": 0.0}),
    (eq.from_inpo, {"eta": -1.0, "tau": 0.1}),
    (eq.from_dno, {"eta": 0.0}),
    (eq.from_sppo, {"beta": 0.0}),
    (eq.from_egpo, {"lr": 0.1, "beta": 0.0, "num_actions": 3}),
    (eq.from_mmd, {"alpha": 0.1, "eta": 0.1, "max_abs_payoff": 0.0}),
  ],
)
def test_converters_reject_non_positive_symbols(converter, kwargs):
  with pytest.raises(ValueError, match="must be > 0"):
    converter(**kwargs)


def test_converters_take_keywords_only():
  with pytest.raises(TypeError):
    eq.from_sppo(1e-3)
