"""What a recipe is: how one shipped checkpoint is made (model and training configuration, data set,
the family's ``fit``). The recipes themselves, one per shipped model, are in ``helpers.registry``."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from helpers.core.checkpoints import Metric, config_dict


@dataclass(frozen=True)
class Recipe:
    """How one shipped model is made. fit(model, train, data, *, device, progress) -> (History, metrics)."""

    name: str
    what: str
    build: Callable[[Any], nn.Module]
    model: Any
    train: Any
    fit: Callable[..., Any]
    data: str | None  # "pokemon" | "digits" | None: synthetic data made by fit itself
    threads: int | None = None  # CPU threads while training (None: torch's default)
    targets: dict[str, float] = field(default_factory=dict)  # metric -> bound a retrained checkpoint must beat

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """The metrics this recipe's family records (its module's METRICS, declared once there)."""
        fn = getattr(self.fit, "func", self.fit)
        return sys.modules[fn.__module__].METRICS

    @property
    def resumable(self) -> bool:
        """Whether ``train --resume`` can continue a stopped run: its fit takes ``resume=`` (a state file)."""
        return "resume" in inspect.signature(self.fit).parameters

    @property
    def config(self) -> dict[str, Any]:
        return {"model": config_dict(self.model), "train": config_dict(self.train)}

    @property
    def seed(self) -> int:
        cfg = self.train
        while not hasattr(cfg, "seed"):
            cfg = cfg.train
        return cfg.seed

    def with_epochs(self, epochs: int) -> "Recipe":
        """The same recipe with another epoch cap (GANs: epochs x 100 steps)."""
        def change(cfg):
            if hasattr(cfg, "epochs"):
                return dataclasses.replace(cfg, epochs=epochs)
            if hasattr(cfg, "steps"):
                return dataclasses.replace(cfg, steps=100 * epochs)
            return dataclasses.replace(cfg, train=change(cfg.train))
        return dataclasses.replace(self, train=change(self.train))
