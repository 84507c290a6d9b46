"""The MQTT edge against the real broker: what "delivered" means for a store-and-forward
sender (MQTT 5 PUBACK reason 0x10, no matching subscribers)."""

from __future__ import annotations

import time

import pytest

from envmon.mqttio import Consumer, MqttConfig, Publisher

pytestmark = pytest.mark.integration


def test_acknowledged_without_subscriber_is_not_delivered(mqtt_config: MqttConfig, unique: str) -> None:
    topic = f"test/{unique}/data"
    pub = Publisher(mqtt_config, f"pub-{unique}")
    pub.connect()
    got: list[bytes] = []
    sub = Consumer(mqtt_config, f"sub-{unique}", [f"$share/g{unique}/{topic}"],
                   lambda m: (got.append(m.payload), m.ack()), clean_start=True, session_expiry=0)
    try:
        lonely = pub.publish(topic, b"nobody")
        assert lonely.wait(5) and lonely.done
        assert not lonely.delivered  # the broker took it and dropped it: resend later
        sub.start()
        heard = pub.publish(topic, b"somebody")
        assert heard.wait(5) and heard.delivered
        deadline = time.monotonic() + 5
        while got != [b"somebody"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == [b"somebody"]
    finally:
        sub.stop()
        pub.close()
