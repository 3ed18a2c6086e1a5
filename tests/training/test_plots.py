from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from jaxpref import training
from jaxpref.training import _plots


class _Hyper(NamedTuple):
  lr: float = 0.1
  beta: float = 0.0


def test_plot_interval_bars_writes_a_png(tmp_path):
  panels = {
    "a": {"bt": {"x": (0.5, 0.1), "y": (0.6, np.nan)}, "gpm": {"x": (0.4, 0.05)}},
    "b": {"bt": {"z": (1.0, 0.0)}},
    "c": {},
  }
  path = training.plot_interval_bars(panels, str(tmp_path / "bars.png"), ylabel="loss", cols=2)
  assert (tmp_path / "bars.png").stat().st_size > 0 and path.endswith("bars.png")


def _overlaps(a, b) -> bool:
  return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_log_curves_name_the_series_that_reached_zero_and_keep_the_legend_off_the_axes():
  x = np.arange(20.0)
  with _plots.styled():
    fig, axes = _plots.subplots(2, cols=2, extra_width=2.0)
    reached = []
    curves = {"slow": np.exp(-x), "exact": np.where(x < 5, 1.0, 0.0)}
    for i, (label, y) in enumerate(curves.items()):
      if _plots.draw_curve(axes[0], x, y, i, label=label, low=y / 2, high=2 * y, log=True):
        reached.append(label)
    note = _plots.note_not_drawn(axes[0], reached)
    axes[1].plot(x, x, label="line")
    legend = _plots.legend_outside(axes[1], where="right")
    figure_legend = _plots.legend_outside(fig, where="below")
    assert _plots.note_not_drawn(axes[1], []) is None
    fig.canvas.draw()
    texts = [t.get_text() for t in axes[0].texts]
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_window_extent(renderer) for ax in axes]
    for box in (legend.get_window_extent(renderer), figure_legend.get_window_extent(renderer)):
      assert not any(_overlaps(box, b) for b in boxes)
  assert reached == ["exact"] and axes[0].get_yscale() == "log"
  assert note == "reached 0 (not drawn on the log scale): exact" and note in texts
  assert figure_legend.get_texts()[0].get_text() == "slow"
  assert len({tuple(_plots.style(i).values()) for i in range(140)}) == 140
  plt.close(fig)


def test_plot_sweep_curves_writes_a_readable_png_with_a_note(tmp_path):
  sweep = training.make_sweep(_Hyper(), axes={"lr": [0.1, 0.2], "beta": [0.0, 1.0]}, seeds=2)
  steps = np.arange(1, 6)
  gap = np.broadcast_to(1.0 / steps, (2, 2, 2, 5)).copy()
  gap[1] = 0.0  # lr=0.2: every curve at 0, an empty log panel (with its note), not an error.
  path = training.plot_sweep_curves({"gap": gap}, steps, sweep, str(tmp_path / "c.png"))
  width, height = plt.imread(path).shape[1::-1]
  assert 800 <= width <= 1900 and height >= 300
