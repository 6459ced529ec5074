"""The judges of generated digits: a classifier that says which digit an image looks like, and
how many classes a set of samples covers (notebooks 04 and 08, and the metrics recorded with
the digits models)."""

from __future__ import annotations

import numpy as np
from torch import Tensor


def digit_classifier(train: Tensor, labels: Tensor):
    """A logistic-regression digit classifier on the 64 grey levels (scikit-learn): the judge
    that says which digit a generated image looks like."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000)
    clf.fit(train.flatten(1).numpy() / 16.0, labels.numpy())
    return clf


def classes_covered(clf, samples: Tensor, min_frac: float = 0.02) -> tuple[int, np.ndarray]:
    """(digit classes with >= min_frac of the samples, the class histogram as fractions)."""
    pred = clf.predict(samples.flatten(1).cpu().numpy() / 16.0)
    hist = np.bincount(pred, minlength=10) / len(pred)
    return int((hist >= min_frac).sum()), hist
