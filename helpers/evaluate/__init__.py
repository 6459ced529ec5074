"""Judges of generated samples: the digit classifier and class coverage (``digits``), the
sprite statistics (``sprite_stats``) and the classifier two-sample test (``two_sample``).

May import: ``helpers.core`` and ``helpers.evaluate``; never a model family, the registry or
the notebook tools (the families use these judges to record their metrics).
"""
