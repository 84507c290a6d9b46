"""Field-realistic simulator of the zone's stations, with ground truth.

``generate(scenario, registry)`` simulates a whole network offline (readings + truth);
``firmware_sim.live.run_live`` runs one firmware node per station against the broker.

>>> from envmon.stations import load_registry
>>> sim = generate(load_scenario("demo-night"), load_registry())
>>> sim.truth[0]["source"]
'OF_TZ_RAIN'
"""

from __future__ import annotations

from firmware_sim.engine import Simulation, StationData, generate
from firmware_sim.scenario import EventSpec, Scenario, ScenarioError, load_scenario

__all__ = [
    "EventSpec",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "StationData",
    "generate",
    "load_scenario",
]
