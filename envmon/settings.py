"""Settings: a TOML file with environment overrides, frozen and checked once at start-up.

Every key has a default that matches the private services of ``envmon.services``, so a
fresh checkout runs without a file. ``ENVMON_<SECTION>_<KEY>`` overrides a key, e.g.
``ENVMON_MQTT_PORT=1883`` or ``ENVMON_INFLUX_URL=http://influx:8086``. Errors name the key
and the bad value.

>>> s = load_settings(env={"ENVMON_MQTT_PORT": "1884"})
>>> s.mqtt.port, s.influx.database
(1884, 'envmon')
>>> load_settings(env={"ENVMON_MQTT_PORT": "x"})
Traceback (most recent call last):
...
envmon.settings.SettingsError: mqtt.port: expected int, got 'x' (from ENVMON_MQTT_PORT)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from envmon.influx import InfluxConfig
from envmon.mqttio import MqttConfig
from envmon.paths import RUN_DIR, STATIONS_FILE
from envmon.tomlfile import read_toml


class SettingsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class IngestSettings:
    group: str = "ingest"
    client_id: str = "envmon-ingest-1"
    batch_size: int = 5000
    batch_age_s: float = 0.5
    # MQTT 5 Receive Maximum: messages in flight (received, not yet acknowledged).
    max_inflight: int = 2000
    spool_dir: str = str(RUN_DIR / "spool")
    spool_max_bytes: int = 256 * 1024 * 1024
    dead_letter_file: str = str(RUN_DIR / "deadletter.jsonl")
    dead_letter_topic: str = "envmon/v1/deadletter"
    max_future_s: float = 300.0
    late_after_s: float = 24 * 3600.0
    max_payload_bytes: int = 256 * 1024
    metrics_port: int = 0
    # MQTT 5 session expiry: how long the broker keeps queuing for a stopped ingest worker.
    session_expiry_s: int = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    group: str = "analytics"
    client_id: str = "envmon-analytics-1"
    alert_db: str = str(RUN_DIR / "alerts.sqlite")
    aqi_edition: str = "auto"  # HJ 633: the edition in force at the data's time, or "2026" / "2012"
    wwtp_grade: str = "1A"  # GB 18918-2002 grade of the sewage plants' daily means: 1A, 1B, 2, 3
    # GB 8978-1996 grade of the industrial outfalls' daily means: "auto" (from the class of
    # the water each discharges into), or "1", "2", "3" for all of them.
    industrial_grade: str = "auto"
    # On start, the core first reads this many hours of stored readings back from InfluxDB
    # (its rolling baselines span 6 h): a restart does not leave it blind while they refill.
    # 0: start cold.
    warm_hours: float = 6.0
    # Routing of alerts to teams and channels (e.g. seeds/routing.toml); empty: alerts go to
    # the store, MQTT and InfluxDB only, nobody is paged.
    routing: str = ""
    # Outfalls' discharge permits (排污许可证, like seeds/permits.sample.toml): an outfall's
    # day is judged by its permit's limits where it lists an item. Empty: by the standards only.
    permits: str = ""

    @staticmethod
    def choices() -> dict[str, tuple[str, ...]]:
        """The values the standards' keys take, checked at load (not when the core starts)."""
        from analytics.standards import gb8978, gb18918, hj633  # tables only: no numpy

        return {"aqi_edition": ("auto", *hj633.EDITIONS), "wwtp_grade": gb18918.GRADES,
                "industrial_grade": ("auto", *gb8978.GRADES)}


@dataclass(frozen=True, slots=True)
class Settings:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    influx: InfluxConfig = field(default_factory=InfluxConfig)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    analytics: AnalyticsSettings = field(default_factory=AnalyticsSettings)
    stations: str = str(STATIONS_FILE)


def coerce(value: Any, typ: Any, where: str) -> Any:
    t = typ if isinstance(typ, type) else {"int": int, "float": float, "str": str, "bool": bool}.get(str(typ), str)
    if t is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise SettingsError(f"{where}: expected true/false, got {value!r}")
    try:
        if t is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return t(value)
    except (TypeError, ValueError) as err:
        raise SettingsError(f"{where}: expected {t.__name__}, got {value!r}") from err


def _build(cls: type, data: Mapping[str, Any], env: Mapping[str, str], section: str) -> Any:
    hints = get_type_hints(cls)
    kwargs = {}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise SettingsError(f"[{section}]: unknown key(s) {', '.join(sorted(unknown))}")
    for f in dataclasses.fields(cls):
        key = f"ENVMON_{section.upper()}_{f.name.upper()}"
        if key in env:
            kwargs[f.name] = _coerce_env(env[key], hints[f.name], f"{section}.{f.name}", key)
        elif f.name in data:
            kwargs[f.name] = coerce(data[f.name], hints[f.name], f"{section}.{f.name}")
    allowed = cls.choices() if hasattr(cls, "choices") else {}
    for name, values in allowed.items():
        if name in kwargs and kwargs[name] not in values:
            key = f"ENVMON_{section.upper()}_{name.upper()}"
            origin = f" (from {key})" if key in env else ""
            raise SettingsError(f"{section}.{name}: must be one of {', '.join(values)}, got {kwargs[name]!r}{origin}")
    return cls(**kwargs)


def _coerce_env(value: str, typ: Any, where: str, key: str) -> Any:
    try:
        return coerce(value, typ, where)
    except SettingsError as err:
        raise SettingsError(f"{err} (from {key})") from err


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (TOML; optional) and apply ``ENVMON_*`` overrides from ``env``."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path:
        data = read_toml(path, SettingsError, "settings file")
    unknown = set(data) - {"mqtt", "influx", "ingest", "analytics", "stations"}
    if unknown:
        raise SettingsError(f"unknown section(s) {', '.join(sorted(unknown))} in {path}")
    stations = env.get("ENVMON_STATIONS") or data.get("stations") or str(STATIONS_FILE)
    return Settings(
        mqtt=_build(MqttConfig, data.get("mqtt", {}), env, "mqtt"),
        influx=_build(InfluxConfig, data.get("influx", {}), env, "influx"),
        ingest=_build(IngestSettings, data.get("ingest", {}), env, "ingest"),
        analytics=_build(AnalyticsSettings, data.get("analytics", {}), env, "analytics"),
        stations=str(stations),
    )


def as_toml(settings: Settings) -> str:
    """The effective settings as TOML (``envmon config``)."""
    out = [f'stations = "{settings.stations}"', ""]
    for section in ("mqtt", "influx", "ingest", "analytics"):
        out.append(f"[{section}]")
        for f in dataclasses.fields(getattr(settings, section)):
            v = getattr(getattr(settings, section), f.name)
            if isinstance(v, bool):
                out.append(f"{f.name} = {'true' if v else 'false'}")
            elif isinstance(v, (int, float)):
                out.append(f"{f.name} = {v}")
            else:
                out.append(f'{f.name} = "{v}"')
        out.append("")
    return "\n".join(out)
