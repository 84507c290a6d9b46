"""MQTT v1 topic names (DESIGN.md "MQTT (v1)").

>>> from envmon.stations import load_registry
>>> st = load_registry()["TZ_TOWN"]
>>> data_topic(st)
'envmon/v1/jiashan/water/TZ_TOWN/data'
>>> parse_topic("envmon/v1/jiashan/water/TZ_TOWN/data")
TopicParts(jurisdiction='jiashan', medium='water', station='TZ_TOWN', leaf='data')
"""

from __future__ import annotations

import re
from typing import NamedTuple

from envmon.stations import Station

PREFIX = "envmon/v1"
DATA_FILTER = f"{PREFIX}/+/+/+/data"
STATUS_FILTER = f"{PREFIX}/+/+/+/status"
ALERTS_FILTER = f"{PREFIX}/alerts/#"
_TOPIC = re.compile(r"^envmon/v1/([a-z]+)/([a-z]+)/([A-Za-z0-9_-]{1,32})/(data|status)$")


class TopicError(ValueError):
    pass


class TopicParts(NamedTuple):
    jurisdiction: str
    medium: str
    station: str
    leaf: str


def data_topic(st: Station) -> str:
    return f"{PREFIX}/{st.jurisdiction}/{st.medium}/{st.id}/data"


def status_topic(st: Station) -> str:
    return f"{PREFIX}/{st.jurisdiction}/{st.medium}/{st.id}/status"


def alert_topic(jurisdiction: str, station: str) -> str:
    return f"{PREFIX}/alerts/{jurisdiction}/{station}"


def shared(group: str, topic_filter: str) -> str:
    """MQTT 5 shared subscription, so several consumers split the load."""
    return f"$share/{group}/{topic_filter}"


def parse_topic(topic: str) -> TopicParts:
    m = _TOPIC.match(topic)
    if not m:
        raise TopicError(f"topic {topic!r} is not envmon/v1/<jurisdiction>/<medium>/<station>/data|status")
    return TopicParts(*m.groups())
