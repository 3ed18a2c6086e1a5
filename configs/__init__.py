"""Experiment configs: each ``configs/<name>.py`` defines ``get_config(arg=None) -> ConfigDict``."""
