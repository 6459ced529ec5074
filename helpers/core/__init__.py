"""The course's infrastructure: data sets and splits (``data``), the training loop, seeds and
atomic saves (``train``), checkpoints checked against their configuration (``checkpoints``),
what a recipe for a shipped checkpoint holds (``recipe``; the recipes are in ``helpers.registry``),
and the contract every generative model follows plus the small tools the families share
(``contract``), and ``refusal``: what hidden tests use to switch a function off while a
student's function runs (the grading kernel lets only it swap a function's code).

May import: only ``helpers.core`` itself (and third-party libraries).
"""
