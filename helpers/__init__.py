"""Helpers shared by the notebooks of the series "Unsupervised Learning: Generation".

Modules are named after the lecture's ideas, never after notebook numbers:
``data`` (course data and splits), ``train`` (loop, seeds, checkpoints), ``plot`` (figures),
``setup_check`` (what is installed / missing). Importing the package runs nothing.
"""

__version__ = "0.1.0"
