"""What only a notebook needs: figures (``plot``), sliders (``widgets``), the completion
explorer (``completion``), the set-up check (``setup_check``), and ``setup``, the one line of
every notebook's set-up cell (its second code cell, after the Colab cell).

May import: anything in ``helpers``; nothing imports it but notebooks, tests and the bench.
"""

from helpers.notebook.session import setup

__all__ = ["setup"]
