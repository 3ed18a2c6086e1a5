import numpy as np

from jaxpref import training


def test_plot_interval_bars_writes_a_png(tmp_path):
  panels = {
    "a": {"bt": {"x": (0.5, 0.1), "y": (0.6, np.nan)}, "gpm": {"x": (0.4, 0.05)}},
    "b": {"bt": {"z": (1.0, 0.0)}},
    "c": {},
  }
  path = training.plot_interval_bars(panels, str(tmp_path / "bars.png"), ylabel="loss", cols=2)
  assert (tmp_path / "bars.png").stat().st_size > 0 and path.endswith("bars.png")
