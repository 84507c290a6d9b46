"""Synthetic extra stations for the stress scenario: thousands of nodes, same format.

Water: chains of river sections (a boundary section at the bottom) with outfalls of every
type along them; noise and air stations spread over the zone. Ids are ``SX_...`` so they
never clash with the registry; every station is valid under the DESIGN contract.

>>> from envmon.stations import load_registry
>>> reg = extend_registry(load_registry(), {"water_chains": 2, "noise": 3, "air": 1}, seed=1)
>>> len(reg) - len(load_registry())
20
>>> reg["SX_W0000_3"].downstream
'SX_W0000_4'
"""

from __future__ import annotations

from envmon.stations import JURISDICTIONS, NOISE_ZONES, Registry, Station
from firmware_sim.common import rng

CHAIN = 5  # river stations per chain
RIVERS = ("塘", "港", "泾", "浜", "河")


def extend_registry(
    reg: Registry, synthetic: dict[str, int], seed: int, hj212_share: float = 0.0
) -> Registry:
    g = rng(seed, "synthetic")
    out: list[Station] = list(reg.values())
    lat0, lon0 = 30.95, 120.9
    for c in range(synthetic.get("water_chains", 0)):
        jur = JURISDICTIONS[c % 3]
        river = f"合成{c}{RIVERS[c % len(RIVERS)]}"
        flow = float(g.uniform(2, 15))
        lat, lon = lat0 + g.uniform(-0.15, 0.15), lon0 + g.uniform(-0.2, 0.2)
        ids = [f"SX_W{c:04d}_{k}" for k in range(CHAIN)]
        for k, sid in enumerate(ids):
            last = k == CHAIN - 1
            mn = f"{900000 + c:06d}A00000000000W{k:03d}" if g.random() < hj212_share else None
            out.append(
                Station(
                    id=sid,
                    name=f"{river}{k}号断面",
                    medium="water",
                    kind="boundary_section" if last else "river_section",
                    lat=lat + 0.01 * k,
                    lon=lon + 0.01 * k,
                    jurisdiction=jur,
                    river=river,
                    downstream=None if last else ids[k + 1],
                    travel_minutes=None if last else float(g.integers(6, 30) * 5),
                    target_class="III" if g.random() < 0.7 else "IV",
                    waterbody="river",
                    hj212_mn=mn,
                    extra=(("flow_m3s", flow * (1 + 0.3 * k)),),
                )
            )
        for k, ot in enumerate(("rain", "industrial", "sewage_plant")):
            into = ids[1 + k]
            out.append(
                Station(
                    id=f"SX_O{c:04d}_{k}",
                    name=f"{river}排口{k}",
                    medium="water",
                    kind="outfall",
                    lat=lat + 0.01 * (1 + k),
                    lon=lon + 0.012 * (1 + k),
                    jurisdiction=jur,
                    river=river,
                    downstream=into,
                    travel_minutes=float(g.integers(2, 12) * 5),
                    discharges_into=into,
                    outfall_type=ot,
                    waterbody="river",
                )
            )
    for i in range(synthetic.get("noise", 0)):
        out.append(
            Station(
                id=f"SX_N{i:05d}",
                name=f"合成噪声{i}",
                medium="noise",
                kind="noise",
                lat=lat0 + float(g.uniform(-0.2, 0.2)),
                lon=lon0 + float(g.uniform(-0.25, 0.25)),
                jurisdiction=JURISDICTIONS[i % 3],
                zone=NOISE_ZONES[1 + int(g.integers(len(NOISE_ZONES) - 1))],
            )
        )
    for i in range(synthetic.get("air", 0)):
        out.append(
            Station(
                id=f"SX_A{i:05d}",
                name=f"合成空气{i}",
                medium="air",
                kind="air",
                lat=lat0 + float(g.uniform(-0.2, 0.2)),
                lon=lon0 + float(g.uniform(-0.25, 0.25)),
                jurisdiction=JURISDICTIONS[i % 3],
            )
        )
    return Registry(out, source=f"{reg.source} + synthetic")


__all__ = ["extend_registry"]
