"""The course's infrastructure: data sets and splits (``data``), the training loop, seeds and
atomic saves (``train``), checkpoints checked against their configuration (``checkpoints``),
what a recipe for a shipped checkpoint holds (``recipe``; the recipes are in ``helpers.registry``),
and the contract every generative model follows plus the small tools the families share
(``contract``).

May import: only ``helpers.core`` itself (and third-party libraries).
"""
