from pathlib import Path

import pytest

from envmon.settings import SettingsError, as_toml, load_settings


def test_file_then_env_override(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[mqtt]\nport = 1999\nhost = "broker"\n[influx]\ndatabase = "zone"\n')
    s = load_settings(f, env={"ENVMON_MQTT_PORT": "2000"})
    assert (s.mqtt.host, s.mqtt.port, s.influx.database) == ("broker", 2000, "zone")


def test_errors_name_key_and_value(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[ingest]\nbatch_size = "many"\n')
    with pytest.raises(SettingsError, match=r"ingest.batch_size: expected int, got 'many'"):
        load_settings(f, env={})
    f.write_text('[mqtt]\nprot = 1\n')
    with pytest.raises(SettingsError, match=r"\[mqtt\]: unknown key\(s\) prot"):
        load_settings(f, env={})
    with pytest.raises(SettingsError, match=r"influx\.gzip: expected true/false"):
        load_settings(env={"ENVMON_INFLUX_GZIP": "maybe"})


def test_as_toml_round_trips(tmp_path: Path) -> None:
    s = load_settings(env={"ENVMON_MQTT_PORT": "1885"})
    f = tmp_path / "out.toml"
    f.write_text(as_toml(s))
    assert load_settings(f, env={}) == s


def test_the_standards_choices_are_checked_at_load(tmp_path: Path) -> None:
    s = load_settings(env={"ENVMON_ANALYTICS_INDUSTRIAL_GRADE": "2", "ENVMON_ANALYTICS_WWTP_GRADE": "1B"})
    assert (s.analytics.industrial_grade, s.analytics.wwtp_grade, s.analytics.aqi_edition) == ("2", "1B", "auto")
    with pytest.raises(SettingsError, match=r"analytics\.industrial_grade: must be one of auto, 1, 2, 3, "
                                            r"got '1A' \(from ENVMON_ANALYTICS_INDUSTRIAL_GRADE\)"):
        load_settings(env={"ENVMON_ANALYTICS_INDUSTRIAL_GRADE": "1A"})
    f = tmp_path / "s.toml"
    f.write_text('[analytics]\naqi_edition = "2020"\n')
    with pytest.raises(SettingsError, match=r"analytics\.aqi_edition: must be one of auto, 2012, 2026, got '2020'$"):
        load_settings(f, env={})
