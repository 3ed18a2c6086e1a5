"""Helpers shared by the experiment configs."""

from typing import Any

import ml_collections


def _parse_value(key: str, text: str, default: Any) -> Any:
  if isinstance(default, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise ValueError(f"Config argument {key}={text!r}: expected a boolean.")
  try:
    return type(default)(text)
  except ValueError as e:
    raise ValueError(
      f"Config argument {key}={text!r}: expected {type(default).__name__} ({e})."
    ) from None


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """Parses the string after the colon of ``--config file.py:arg`` into a typed ConfigDict.

  ``arg`` is a comma-separated list of ``key=value`` pairs; a bare ``key`` sets a boolean to True.
  Values are converted to the type of the default; unknown keys are an error (so a typo never
  silently runs the default experiment).

  Args:
    arg: e.g. ``"games=canonical,top_k=5"``; ``None`` or ``""`` keeps the defaults.
    **defaults: every accepted key with its default value.

  Returns:
    A ConfigDict holding the defaults updated by ``arg``.

  Raises:
    ValueError: on an unknown key or a value that does not convert to the default's type.

  Examples:
    >>> parse_arg("top_k=5,plot", top_k=10, plot=False, games="all").top_k
    5
  """
  out = ml_collections.ConfigDict(defaults)
  if not arg:
    return out
  for item in arg.split(","):
    key, sep, text = item.partition("=")
    key = key.strip()
    if key not in defaults:
      raise ValueError(
        f"Unknown config argument {key!r} in {arg!r}; known: {', '.join(sorted(defaults))}."
      )
    if not sep:
      if not isinstance(defaults[key], bool):
        raise ValueError(f"Config argument {key!r} needs a value ({key}=...).")
      out[key] = True
    else:
      out[key] = _parse_value(key, text.strip(), defaults[key])
  return out
