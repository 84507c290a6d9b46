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
