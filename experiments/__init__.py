"""Experiment entry point (``python -m experiments.train``) and the experiments it runs."""
