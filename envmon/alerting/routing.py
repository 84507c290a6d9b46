"""Routing: which team hears of which alert, over which channels, and when it escalates.

The configuration is a TOML file (sample: ``seeds/routing.toml``)::

    [defaults]
    ack_deadline_minutes = 30          # escalate if nobody acknowledged within this
    link_base = "http://127.0.0.1:8765"

    [channels.js_ding]                 # one delivery channel; secrets only by env var name
    type = "dingtalk"                  # mqtt | webhook | dingtalk | wecom | feishu | email
    url_env = "ENVMON_DINGTALK_JS_URL"
    secret_env = "ENVMON_DINGTALK_JS_SECRET"

    [teams.js_enforcement]
    name = "嘉善生态环境执法大队"
    jurisdiction = "jiashan"
    channels = ["js_ding"]

    [[routes]]                         # first matching route per jurisdiction wins
    jurisdiction = "jiashan"
    kinds = ["illegal_discharge", "dry_weather_flow"]     # or ["*"]
    teams = ["js_enforcement"]
    ack_deadline_minutes = 20
    escalate = ["js_duty_chief"]       # who hears next, one step per missed deadline

An alert is routed once per jurisdiction that may see its station, so a boundary section
shared by Jiashan and Qingpu reaches both sides' teams. The file is checked once when it is
loaded; errors name the key and the bad value. Environment variables are read only when a
notifier is built (:meth:`ChannelConfig.resolve`), never at load.

>>> cfg = parse_routing({
...     "channels": {"bus": {"type": "mqtt"}},
...     "teams": {"js": {"name": "嘉善执法", "jurisdiction": "jiashan", "channels": ["bus"]},
...               "chief": {"name": "值班领导", "jurisdiction": "jiashan", "channels": ["bus"]}},
...     "routes": [{"jurisdiction": "jiashan", "kinds": ["*"], "teams": ["js"],
...                 "ack_deadline_minutes": 20, "escalate": ["chief"]}]})
>>> [(t.team.id, t.channel.id) for t in cfg.targets("illegal_discharge", ("jiashan",))]
[('js', 'bus')]
>>> cfg.deadline("illegal_discharge", ("jiashan",), "warning")
datetime.timedelta(seconds=1200)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from envmon.alerts import KINDS, SEVERITIES
from envmon.stations import JURISDICTIONS
from envmon.tomlfile import read_toml

CHANNEL_TYPES = ("mqtt", "webhook", "dingtalk", "wecom", "feishu", "email")
# Keys each channel type may carry; *_env keys name environment variables holding secrets.
_CHANNEL_KEYS: dict[str, set[str]] = {
    "mqtt": {"qos"},
    "webhook": {"url", "url_env", "secret_env", "timeout_s"},
    "dingtalk": {"url", "url_env", "secret_env", "timeout_s"},
    "wecom": {"url", "url_env", "timeout_s"},
    "feishu": {"url", "url_env", "secret_env", "timeout_s"},
    "email": {"smtp_host", "smtp_port", "starttls", "ssl", "sender", "to", "username_env",
              "password_env", "timeout_s"},
}
# Keys that would put a secret into the file: refused, with a hint to use *_env.
_SECRET_KEYS = {"secret", "password", "token", "access_token", "key"}


class RoutingError(ValueError):
    """A routing file that breaks the contract; the message names the key and value."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One delivery channel as configured (secrets by env var name only)."""

    id: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Options with ``*_env`` keys replaced by the variables' values (at start-up).

        >>> ChannelConfig("d", "dingtalk", {"url_env": "U"}).resolve({"U": "http://x"})
        {'url': 'http://x'}
        """
        env = os.environ if env is None else env
        out: dict[str, Any] = {}
        for k, v in self.options.items():
            if k.endswith("_env"):
                name = k[: -len("_env")]
                if v not in env or not env[v]:
                    raise RoutingError(
                        f"channel {self.id!r}: environment variable {v!r} ({k}) is not set")
                out[name] = env[v]
            else:
                out[k] = v
        if self.type in ("webhook", "dingtalk", "wecom", "feishu") and "url" not in out:
            raise RoutingError(f"channel {self.id!r}: needs 'url' or 'url_env'")
        return out


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    jurisdiction: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    jurisdiction: str
    kinds: tuple[str, ...]  # ("*",) = every kind
    teams: tuple[str, ...]
    ack_deadline: timedelta
    escalate: tuple[str, ...] = ()
    min_severity: str = "info"

    def matches(self, kind: str, severity: str = "critical") -> bool:
        return ("*" in self.kinds or kind in self.kinds) and (
            SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity))


@dataclass(frozen=True, slots=True)
class Target:
    """Deliver to ``team`` over ``channel`` (on behalf of ``jurisdiction``)."""

    team: Team
    channel: ChannelConfig
    jurisdiction: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.team.id, self.channel.id)


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Escalation number ``level`` (1 = first) is due: raise severity, tell ``targets``."""

    level: int
    severity: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Teams, channels and routes; pure lookups, no I/O."""

    channels: Mapping[str, ChannelConfig]
    teams: Mapping[str, Team]
    routes: tuple[Route, ...]
    default_deadline: timedelta = timedelta(minutes=30)
    severity_deadlines: Mapping[str, timedelta] = field(default_factory=dict)
    link_base: str = "http://127.0.0.1:8765"
    broadcast: tuple[str, ...] = ()  # channels that get every event (machine consumers)

    def route_for(self, kind: str, jurisdiction: str, severity: str = "critical") -> Route | None:
        """The first route of ``jurisdiction`` that matches ``kind`` and ``severity``."""
        for r in self.routes:
            if r.jurisdiction == jurisdiction and r.matches(kind, severity):
                return r
        return None

    def _targets_of(self, team_ids: Sequence[str], jurisdiction: str) -> list[Target]:
        out: list[Target] = []
        for tid in team_ids:
            team = self.teams[tid]
            out.extend(Target(team, self.channels[c], jurisdiction) for c in team.channels)
        return out

    def targets(self, kind: str, jurisdictions: Sequence[str],
                severity: str = "critical") -> list[Target]:
        """Every (team, channel) that should hear of a new alert, without duplicates."""
        seen: set[tuple[str, str]] = set()
        out: list[Target] = []
        for j in jurisdictions:
            route = self.route_for(kind, j, severity)
            if route is None:
                continue
            for t in self._targets_of(route.teams, j):
                if t.key not in seen:
                    seen.add(t.key)
                    out.append(t)
        return out

    def deadline(self, kind: str, jurisdictions: Sequence[str], severity: str) -> timedelta:
        """Time to acknowledge: the tightest of the routes involved and the severity's."""
        candidates = [r.ack_deadline for j in jurisdictions
                      if (r := self.route_for(kind, j, severity)) is not None]
        if severity in self.severity_deadlines:
            candidates.append(self.severity_deadlines[severity])
        return min(candidates) if candidates else self.default_deadline

    def escalation_due(self, kind: str, jurisdictions: Sequence[str], severity: str,
                       opened_at: datetime, level: int, now: datetime) -> EscalationStep | None:
        """The next escalation if its deadline has passed, else ``None``.

        Step ``n`` is due ``n`` deadlines after the alert was opened; each step raises the
        severity one level and tells the next contact of every route's ``escalate`` list
        (the last contact keeps being told if the chain is exhausted).
        """
        deadline = self.deadline(kind, jurisdictions, severity)
        nxt = level + 1
        if now < opened_at + deadline * nxt:
            return None
        sev = SEVERITIES[min(len(SEVERITIES) - 1, SEVERITIES.index(severity) + 1)]
        seen: set[tuple[str, str]] = set()
        targets = []
        for j in jurisdictions:
            route = self.route_for(kind, j)
            if route is None or not route.escalate:
                continue
            contact = route.escalate[min(nxt, len(route.escalate)) - 1]
            for t in self._targets_of([contact], j):
                if t.key not in seen:
                    seen.add(t.key)
                    targets.append(t)
        return EscalationStep(level=nxt, severity=sev, targets=tuple(targets))


def _minutes(value: Any, where: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RoutingError(f"{where}: expected a positive number of minutes, got {value!r}")
    return timedelta(minutes=float(value))


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise RoutingError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def parse_routing(data: Mapping[str, Any], source: str = "<routing>") -> RoutingConfig:
    """Check and build a :class:`RoutingConfig` from parsed TOML."""
    unknown = set(data) - {"defaults", "channels", "teams", "routes"}
    if unknown:
        raise RoutingError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    defaults = data.get("defaults", {})
    bad = set(defaults) - {"ack_deadline_minutes", "link_base", "deadlines", "broadcast"}
    if bad:
        raise RoutingError(f"{source}: [defaults] unknown key(s) {', '.join(sorted(bad))}")
    channels: dict[str, ChannelConfig] = {}
    for cid, c in data.get("channels", {}).items():
        where = f"{source}: channels.{cid}"
        if not isinstance(c, dict):
            raise RoutingError(f"{where}: expected a table")
        ctype = c.get("type")
        if ctype not in CHANNEL_TYPES:
            raise RoutingError(f"{where}.type: bad value {ctype!r} "
                               f"(allowed: {', '.join(CHANNEL_TYPES)})")
        opts = {k: v for k, v in c.items() if k != "type"}
        secrets = set(opts) & _SECRET_KEYS
        if secrets:
            k = sorted(secrets)[0]
            raise RoutingError(f"{where}.{k}: secrets must not be in the file; "
                               f"name an environment variable with {k}_env")
        extra = set(opts) - _CHANNEL_KEYS[ctype]
        if extra:
            raise RoutingError(f"{where}: unknown key(s) {', '.join(sorted(extra))} for "
                               f"type {ctype!r}")
        if ctype == "email":
            for k in ("smtp_host", "sender", "to"):
                if k not in opts:
                    raise RoutingError(f"{where}: missing required key {k!r}")
            opts["to"] = _str_list(opts["to"], f"{where}.to")
        channels[cid] = ChannelConfig(cid, ctype, opts)
    teams: dict[str, Team] = {}
    for tid, t in data.get("teams", {}).items():
        where = f"{source}: teams.{tid}"
        j = t.get("jurisdiction")
        if j not in JURISDICTIONS:
            raise RoutingError(f"{where}.jurisdiction: bad value {j!r} "
                               f"(allowed: {', '.join(JURISDICTIONS)})")
        chans = _str_list(t.get("channels", []), f"{where}.channels")
        for c in chans:
            if c not in channels:
                raise RoutingError(f"{where}.channels: unknown channel {c!r}")
        teams[tid] = Team(tid, str(t.get("name", tid)), j, chans)
    routes = []
    for i, r in enumerate(data.get("routes", [])):
        where = f"{source}: routes[{i}]"
        j = r.get("jurisdiction")
        if j not in JURISDICTIONS:
            raise RoutingError(f"{where}.jurisdiction: bad value {j!r} "
                               f"(allowed: {', '.join(JURISDICTIONS)})")
        kinds = _str_list(r.get("kinds", ["*"]), f"{where}.kinds")
        for k in kinds:
            if k != "*" and k not in KINDS:
                raise RoutingError(f"{where}.kinds: unknown kind {k!r} "
                                   f"(allowed: *, {', '.join(KINDS)})")
        team_ids = _str_list(r.get("teams", []), f"{where}.teams")
        esc = _str_list(r.get("escalate", []), f"{where}.escalate")
        for tid in (*team_ids, *esc):
            if tid not in teams:
                raise RoutingError(f"{where}: unknown team {tid!r}")
        if not team_ids:
            raise RoutingError(f"{where}.teams: at least one team is required")
        min_sev = r.get("min_severity", "info")
        if min_sev not in SEVERITIES:
            raise RoutingError(f"{where}.min_severity: bad value {min_sev!r}")
        deadline = (_minutes(r["ack_deadline_minutes"], f"{where}.ack_deadline_minutes")
                    if "ack_deadline_minutes" in r else
                    _minutes(defaults.get("ack_deadline_minutes", 30),
                             f"{source}: defaults.ack_deadline_minutes"))
        routes.append(Route(j, kinds, team_ids, deadline, esc, min_sev))
    sev_deadlines = {}
    for sev, minutes in defaults.get("deadlines", {}).items():
        if sev not in SEVERITIES:
            raise RoutingError(f"{source}: defaults.deadlines: unknown severity {sev!r}")
        sev_deadlines[sev] = _minutes(minutes, f"{source}: defaults.deadlines.{sev}")
    broadcast = _str_list(defaults.get("broadcast", []), f"{source}: defaults.broadcast")
    for c in broadcast:
        if c not in channels:
            raise RoutingError(f"{source}: defaults.broadcast: unknown channel {c!r}")
    link_base = defaults.get("link_base", "http://127.0.0.1:8765")
    if not isinstance(link_base, str) or not link_base.startswith(("http://", "https://")):
        raise RoutingError(f"{source}: defaults.link_base: bad value {link_base!r}")
    return RoutingConfig(
        channels=channels, teams=teams, routes=tuple(routes),
        default_deadline=_minutes(defaults.get("ack_deadline_minutes", 30),
                                  f"{source}: defaults.ack_deadline_minutes"),
        severity_deadlines=sev_deadlines, link_base=link_base.rstrip("/"), broadcast=broadcast)


def load_routing(path: str | Path) -> RoutingConfig:
    """Read and check a routing file (e.g. ``seeds/routing.toml``)."""
    return parse_routing(read_toml(path, RoutingError, "routing file"), str(path))
