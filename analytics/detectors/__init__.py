"""Streaming anomaly detectors (pure: no I/O) and the policy that turns scores into alarms.

Importing this package fills :data:`REGISTRY` with every detector; :data:`DEFAULT_CONFIGS`
holds the sample configuration (the constructor defaults) of each.

>>> sorted(REGISTRY)
['canary', 'contextual', 'cusum', 'iforest', 'robust', 'spikeshift']
>>> make("cusum", h=6.0)
Cusum(window=360, min_history=30, drift=0.5, h=6.0, clip=6.0, every=1)
"""

from __future__ import annotations

from typing import Any

from analytics.detectors import canary, contextual, cusum, iforest, robust, spikeshift
from analytics.detectors.base import (
    DEFAULT_CONFIGS,
    REGISTRY,
    Decision,
    Detector,
    ThresholdPolicy,
    register,
)
from analytics.detectors.canary import Canary
from analytics.detectors.contextual import Contextual
from analytics.detectors.cusum import Cusum
from analytics.detectors.iforest import IsolationForestDetector
from analytics.detectors.robust import RobustBaseline
from analytics.detectors.spikeshift import SpikeShift

__all__ = [
    "DEFAULT_CONFIGS",
    "REGISTRY",
    "Canary",
    "Contextual",
    "Cusum",
    "Decision",
    "Detector",
    "IsolationForestDetector",
    "RobustBaseline",
    "SpikeShift",
    "ThresholdPolicy",
    "make",
    "register",
]

# The modules are imported for their @register side effect.
del canary, contextual, cusum, iforest, robust, spikeshift


def make(name: str, **params: Any) -> Detector:
    """A registered detector by name, with ``params`` overriding its defaults."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return cls(**{**DEFAULT_CONFIGS[name], **params})
