"""Where the project's data files are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
STATIONS_FILE = SEEDS / "stations.toml"
PARAMETERS_FILE = SEEDS / "parameters.toml"
STANDARDS_DIR = SEEDS / "standards"
SCENARIOS_DIR = SEEDS / "scenarios"
# Private services' config, data, logs and pid files (ignored by git).
RUN_DIR = ROOT / ".run"
# Default place for files a command writes (demo outputs, reports, dashboards JSON).
OUT_DIR = ROOT / "out"
SHARED = ROOT.parent / "shared"
