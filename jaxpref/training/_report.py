"""Status lines of long runs (progress, resumption): logged, and handed to a hook if one is set.

The library never prints. :func:`run_sweep` logs its progress lines and its resume message with
absl ``logging.info``; an application that shows them to a user (the experiment CLI prints them)
installs a callback for the duration of the run::

  lines = []
  with training.progress_hook(lines.append):  # the CLI passes a function that prints each line
    training.run_sweep(program, sweep, steps=100, workdir=workdir)

The hook is held in a context variable: it applies to the calling thread (and tasks it starts)
inside the ``with`` block only, so a library user who sets none gets log records and nothing else.
"""

import contextlib
import contextvars
from collections.abc import Callable, Iterator

from absl import logging

_HOOK: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
  "jaxpref_training_progress_hook", default=None
)


@contextlib.contextmanager
def progress_hook(callback: Callable[[str], None]) -> Iterator[None]:
  """Sends training's status lines to ``callback`` (as well as to the log) inside the block.

  Args:
    callback: called with each line (no trailing newline), e.g. one that prints it.

  Yields:
    Nothing; the previous hook (or none) is back in place after the block.
  """
  token = _HOOK.set(callback)
  try:
    yield
  finally:
    _HOOK.reset(token)


def report(line: str) -> None:
  """Logs ``line`` at INFO and passes it to the current :func:`progress_hook`, if any."""
  logging.info("%s", line)
  hook = _HOOK.get()
  if hook is not None:
    hook(line)
