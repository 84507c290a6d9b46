"""The station registry: the contract of DESIGN.md and the zone network the issue asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from envmon.stations import RegistryError, load_registry

BASE = """
[[station]]
id = "A"
name = "上游"
medium = "water"
kind = "river_section"
lat = 30.9
lon = 120.9
jurisdiction = "jiashan"
river = "测试河"
waterbody = "river"
target_class = "III"
downstream = "B"
travel_minutes = 30

[[station]]
id = "B"
name = "下游"
medium = "water"
kind = "boundary_section"
lat = 30.9
lon = 121.0
jurisdiction = "jiashan"
river = "测试河"
waterbody = "river"
target_class = "III"
shared_with = ["qingpu"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "stations.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_registry_loads(tmp_path: Path) -> None:
    reg = load_registry(write(tmp_path, BASE))
    assert [s.id for s in reg.downstream_chain("A")] == ["B"]
    assert reg.travel_minutes_between("A", "B") == 30
    assert reg["B"].visible_to("qingpu") and not reg["A"].visible_to("qingpu")


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda t: t.replace('kind = "river_section"', 'kind = "pond"'), "station 'A': key 'kind' has bad value 'pond'"),
        (lambda t: t.replace('target_class = "III"\ndownstream', 'downstream'), "station 'A': missing required key 'target_class'"),
        (lambda t: t.replace('downstream = "B"', 'downstream = "Z"'), "station 'A': key 'downstream' names unknown station 'Z'"),
        (lambda t: t.replace('jurisdiction = "jiashan"', 'jurisdiction = "kunshan"', 1), "station 'A': key 'jurisdiction' has bad value 'kunshan'"),
        (lambda t: t.replace('id = "A"', 'id = "A B"'), "station 'A B': key 'id' must match"),
        (lambda t: t.replace("travel_minutes = 30", "travel_minutes = -5"), "station 'A': key 'travel_minutes' must be >= 0"),
        (lambda t: t.replace('shared_with = ["qingpu"]', 'shared_with = ["qingpu"]\ndownstream = "A"\ntravel_minutes = 5'), "cycle"),
        (lambda t: t + '\n[[station]]\nid = "N"\nname = "n"\nmedium = "noise"\nkind = "noise"\nlat = 1.0\nlon = 1.0\n'
         'jurisdiction = "qingpu"\nzone = "5"\n', "station 'N': key 'zone' has bad value '5'"),
    ],
)
def test_errors_name_station_and_key(tmp_path: Path, mutation, message: str) -> None:
    with pytest.raises(RegistryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_registry(write(tmp_path, mutation(BASE)))


def test_zone_network_meets_the_issue() -> None:
    reg = load_registry()
    water = [s for s in reg.values() if s.medium == "water" and not s.is_outfall]
    outfalls = [s for s in reg.values() if s.is_outfall]
    noise = reg.by_medium("noise")
    assert len(water) >= 12
    assert len(outfalls) >= 6 and {o.outfall_type for o in outfalls} == {"rain", "sewage_plant", "industrial"}
    assert len(noise) >= 6 and {"1", "2", "3", "4a"} <= {s.zone for s in noise}
    assert len(reg.by_medium("air")) >= 4
    assert {s.jurisdiction for s in reg.values()} == {"jiashan", "qingpu", "wujiang"}
    for s in water:
        if s.kind == "boundary_section":
            assert s.shared_with, f"{s.id} is a boundary section but shared with nobody"
    rivers = {s.river for s in water}
    for name in ("太浦河", "芦墟塘", "俞汇塘", "丁栅港", "红旗塘", "元荡", "汾湖", "淀山湖"):
        assert name in rivers, name
    # every outfall discharges into a station that has a river path
    for o in outfalls:
        assert reg[o.discharges_into].medium == "water"


NETWORKS = sorted((Path(__file__).resolve().parents[1] / "data" / "networks").glob("*.toml"))


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: p.stem)
def test_every_network_the_bench_judges_on_is_a_whole_network(path: Path) -> None:
    # `envmon bench detect --stations` takes these: a broken reference would fail a long run
    # late, and a network without one kind of outfall would judge less than it says.
    reg = load_registry(path)
    outfalls = [s for s in reg.values() if s.is_outfall]
    rivers = [s for s in reg.values() if s.medium == "water" and not s.is_outfall]
    assert {o.outfall_type for o in outfalls} == {"rain", "sewage_plant", "industrial"}
    assert all(reg[o.discharges_into] in rivers for o in outfalls)
    assert all(s.shared_with for s in rivers if s.kind == "boundary_section")
