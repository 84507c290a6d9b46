"""The one module that imports paho-mqtt: a publisher and a consumer, MQTT 5.

Reconnect and backoff live here (STYLE rule 8). Delivery is at least once: publishers use
QoS 1; the consumer runs with manual acknowledgement, so a message is acknowledged only when
the application calls :meth:`Message.ack` (after its InfluxDB write). The MQTT 5 *Receive
Maximum* the consumer announces bounds the messages the broker sends it unacknowledged:
that is the cap on messages in flight, and everything beyond it waits in the broker.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)


class MqttError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 21883
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    keepalive: int = 30


def _client(config: MqttConfig, client_id: str, manual_ack: bool = False) -> mqtt.Client:
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if config.username:
        c.username_pw_set(config.username, config.password or None)
    if config.tls:
        ctx = ssl.create_default_context(cafile=config.ca_file or None)
        c.tls_set_context(ctx)
    c.reconnect_delay_set(min_delay=1, max_delay=30)
    # paho's own outgoing queue is unbounded by default; the bound on unsent readings is
    # the node's store-and-forward queue or the publisher's callers.
    c.max_queued_messages_set(0)
    return c


# MQTT 5 PUBACK reason 0x10: the broker took the message but nobody was subscribed, so it
# is gone. Mosquitto does not restore shared subscriptions after a restart (measured with
# 2.0.11): until the consumers have subscribed again, what nodes publish meets nobody.
NO_MATCHING_SUBSCRIBERS = 16


class Publish:
    """Handle of one publish: ``wait()`` blocks until the broker acknowledged it (QoS 1);
    ``delivered`` also says that a subscriber took it (a sender with store-and-forward
    keeps and resends what was not delivered)."""

    def __init__(self, info: mqtt.MQTTMessageInfo, reasons: dict[int, int] | None = None):
        self._info = info
        self._reasons = reasons if reasons is not None else {}

    @property
    def delivered(self) -> bool:
        """Acknowledged, and not with a failure or "no matching subscribers" reason."""
        if not self.done:
            return False
        rc = self._reasons.get(self._info.mid, 0)
        return rc < 0x80 and rc != NO_MATCHING_SUBSCRIBERS

    def wait(self, timeout: float | None = None) -> bool:
        try:
            self._info.wait_for_publish(timeout)
        except (ValueError, RuntimeError):
            return False
        return self._info.is_published()

    @property
    def done(self) -> bool:
        """True once the broker acknowledged it; False while pending or when the publish
        failed (not connected at the time: the caller publishes it again)."""
        try:
            return self._info.is_published()
        except (ValueError, RuntimeError):
            return False


class Publisher:
    """QoS 1 publisher with a Last Will, automatic reconnect and an in-flight cap.

    Nothing connects until :meth:`connect`.
    """

    def __init__(self, config: MqttConfig, client_id: str, *, will: tuple[str, bytes, bool] | None = None,
                 max_inflight: int = 200, clean_start: bool = True,
                 on_connect: Callable[[bool], None] | None = None):
        self.config = config
        self.client_id = client_id
        self.will = will
        self.max_inflight = max_inflight
        self.clean_start = clean_start
        self._on_connect_cb = on_connect
        self._client: mqtt.Client | None = None
        self.connected = threading.Event()
        self._reasons: dict[int, int] = {}  # mid -> PUBACK reason code, when not success

    def connect(self, timeout: float = 10.0) -> None:
        c = _client(self.config, self.client_id)
        c.max_inflight_messages_set(self.max_inflight)
        if self.will:
            topic, payload, retain = self.will
            c.will_set(topic, payload, qos=1, retain=retain)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self._client = c
        try:
            c.connect(self.config.host, self.config.port, keepalive=self.config.keepalive,
                      clean_start=self.clean_start)
        except OSError as err:
            raise MqttError(f"cannot reach MQTT broker {self.config.host}:{self.config.port}: {err}") from err
        c.loop_start()
        if not self.connected.wait(timeout):
            c.loop_stop()
            raise MqttError(f"MQTT broker {self.config.host}:{self.config.port} did not accept the connection")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused for %s: %s", self.client_id, reason_code)
            return
        self.connected.set()
        if self._on_connect_cb:
            self._on_connect_cb(True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if self._on_connect_cb:
            self._on_connect_cb(False)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Only the unusual outcomes are kept (mids are reused; a later success overwrites).
        value = getattr(reason_code, "value", 0) or 0
        if value:
            self._reasons[mid] = value
        else:
            self._reasons.pop(mid, None)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> Publish:
        if self._client is None:
            raise MqttError("publisher not connected; call connect() first")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return Publish(info, self._reasons)

    def close(self, send_will: bool = False) -> None:
        c = self._client
        if c is None:
            return
        if send_will:
            # An abrupt end (what the Last Will is for): drop the socket without DISCONNECT.
            sock = c.socket()
            if sock is not None:
                sock.close()
            c.loop_stop()
        else:
            c.disconnect()
            c.loop_stop()
        self._client = None
        self.connected.clear()


@dataclass(slots=True)
class Message:
    """A received message; call :meth:`ack` once its content is durably stored."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    _consumer: Consumer
    # Connection generation the message arrived on: a packet id only means something on the
    # connection that delivered it (see Consumer._ack).
    _epoch: int = 0

    def ack(self) -> None:
        self._consumer._ack(self.mid, self.qos, self._epoch)

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        """Publish on the consumer's own connection (dead letters, replies)."""
        self._consumer.publish(topic, payload, qos)


class Consumer:
    """MQTT 5 consumer: persistent session, shared subscriptions, manual acknowledgement.

    ``handler(message)`` runs on paho's network thread; it must be quick (hand the message
    to a batcher) and must never raise. Every message must eventually be acked.
    """

    def __init__(self, config: MqttConfig, client_id: str, topics: Sequence[str],
                 handler: Callable[[Message], None], *, session_expiry: int = 7 * 24 * 3600,
                 clean_start: bool = False, receive_maximum: int = 1000):
        self.config = config
        self.client_id = client_id
        self.topics = list(topics)
        self.handler = handler
        self.session_expiry = session_expiry
        self.clean_start = clean_start
        self.receive_maximum = receive_maximum
        self._client: mqtt.Client | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.reconnects = 0
        self.refused: list[str] = []  # topic filters the broker refused (ACL), from the last SUBACK
        self.stale_acks = 0  # acks dropped because the message came on an earlier connection
        self._epoch = 0
        self._lock = threading.Lock()

    def start(self, timeout: float = 10.0) -> None:
        c = _client(self.config, self.client_id, manual_ack=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = self.receive_maximum
        self._client = c
        try:
            c.connect(self.config.host, self.config.port, keepalive=self.config.keepalive,
                      clean_start=self.clean_start, properties=props)
        except OSError as err:
            raise MqttError(f"cannot reach MQTT broker {self.config.host}:{self.config.port}: {err}") from err
        c.loop_start()
        if not self.subscribed.wait(timeout):
            self.stop()
            raise MqttError(f"could not subscribe at {self.config.host}:{self.config.port} within {timeout} s")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused for %s: %s", self.client_id, reason_code)
            return
        if self.connected.is_set() is False and self.subscribed.is_set():
            self.reconnects += 1
            log.info("MQTT reconnected as %s (session present: %s)", self.client_id, flags.session_present)
        with self._lock:
            self._epoch += 1
        self.connected.set()
        # Re-subscribe on every connect: harmless when the session survived, needed when not.
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.refused = [t for t, rc in zip(self.topics, reason_codes, strict=False) if rc.is_failure]
        if self.refused:
            log.error("subscription refused: %s", reason_codes)
            return
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        m = Message(msg.topic, bytes(msg.payload), msg.qos, msg.mid, bool(msg.retain), self, self._epoch)
        try:
            self.handler(m)
        except Exception:  # the network thread must survive a handler bug
            log.exception("message handler failed on %s; message left unacknowledged", msg.topic)

    def _ack(self, mid: int, qos: int, epoch: int | None = None) -> None:
        c = self._client
        if c is None or qos == 0:
            return
        with self._lock:
            if epoch is not None and epoch != self._epoch:
                # The broker resends every unacknowledged message after a reconnect, with
                # packet ids of the new connection; acking an old id now could acknowledge a
                # different, not yet stored message. The resent copy gets its own ack.
                self.stale_acks += 1
                return
            c.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> Publish | None:
        """Publish on this connection; QoS 0 by default, so a broker outage cannot make the
        consumer buffer without bound (callers keep their own durable copy)."""
        c = self._client
        if c is None:
            return None
        return Publish(c.publish(topic, payload, qos=qos))

    def stop(self) -> None:
        c = self._client
        if c is None:
            return
        c.disconnect()
        c.loop_stop()
        self._client = None
        self.connected.clear()


def wait_for_broker(config: MqttConfig, timeout: float = 20.0) -> None:
    """Block until the broker accepts a connection (readiness probe, not a sleep)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        p = Publisher(config, f"envmon-probe-{time.monotonic_ns()}")
        try:
            p.connect(timeout=2)
            p.close()
            return
        except MqttError as err:
            last = err
            time.sleep(0.2)
    raise MqttError(f"MQTT broker {config.host}:{config.port} not ready after {timeout:.0f} s: {last}")
