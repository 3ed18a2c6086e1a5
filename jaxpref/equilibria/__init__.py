"""Equilibria of preference games: the exact maximal lottery (iterative solvers follow)."""

from jaxpref.equilibria._maximal_lottery import maximal_lottery

__all__ = ["maximal_lottery"]
