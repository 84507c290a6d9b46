"""Notifiers: message content, vendor formats and signatures, failure classification.

Signatures are checked against independent re-implementations written from the vendors'
published samples (DingTalk 自定义机器人 加签; Feishu 自定义机器人 签名校验), not against
the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socketserver
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from envmon.alerting.notifiers import (
    EmailNotifier,
    MessageFormatter,
    MqttNotifier,
    NotifierError,
    WebhookNotifier,
    webhook_signature,
)
from envmon.alerting.store import AlertStore
from envmon.alerts import Alert, Event
from tests.httpstub import Receiver

T0 = datetime(2026, 7, 13, 18, 0, tzinfo=UTC)  # 02:00 CST
NOW = 1_784_000_000.123


def alert(station: str = "TZ_TOWN", **kw: object) -> Alert:
    base: dict = dict(id="ille-TZ_TOWN-1", kind="illegal_discharge", station=station,
                      medium="water", parameters=("cod", "nh3n"), start=T0,
                      last_seen=T0 + timedelta(minutes=40), severity="critical",
                      message="COD、氨氮突升", suspected_source="OF_TZ_RAIN", confidence=0.82)
    base.update(kw)
    return Alert(**base)


FMT = MessageFormatter(link_base="https://envmon.example.cn")


# -- content ---------------------------------------------------------------------------------
def test_message_is_short_specific_chinese():
    m = FMT.format(alert())
    for expected in ("疑似偷排", "严重", "陶庄镇河", "TZ_TOWN", "陶庄塘", "化学需氧量", "氨氮",
                     "07-14 02:00", "02:40", "陶庄工业区雨水排口", "82%",
                     "https://envmon.example.cn/m/#ille-TZ_TOWN-1"):
        assert expected in m.text, expected
    assert len(m.text) < 300
    assert m.text.count("\n") <= 8


def test_segment_source_and_boundary_jurisdictions():
    m = FMT.format(alert(station="HQT_HENGGANG", suspected_source="YZ_TOWN..HQT_HENGGANG"))
    assert "至" in m.text and "河段" in m.text
    assert "嘉善、青浦" in m.text


def test_reach_above_a_station_is_worded_not_left_half_empty():
    # "..LXT_LUXU": no single station above it. Before, the text read " 至 芦墟塘芦墟(LXT_LUXU) 河段".
    m = FMT.format(alert(station="LXT_LUXU", suspected_source="..LXT_LUXU"))
    assert "疑似来源：芦墟塘芦墟(LXT_LUXU)以上河段，置信度 82%" in m.text
    assert "至" not in m.text


def test_note_line_is_included():
    assert "请处置：嘉善执法" in FMT.format(alert(), "请处置：嘉善执法").text


# -- vendor formats ----------------------------------------------------------------------------
def vendor_dingtalk_sign(secret: str, timestamp: str) -> str:
    # DingTalk's published Python sample, step by step
    secret_enc = secret.encode("utf-8")
    string_to_sign = f"{timestamp}\n{secret}"
    hmac_code = hmac.new(secret_enc, string_to_sign.encode("utf-8"),
                         digestmod=hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(hmac_code))


def vendor_feishu_sign(secret: str, timestamp: str) -> str:
    # Feishu's published Python sample: the key is timestamp\nsecret, the message empty
    key_enc = f"{timestamp}\n{secret}".encode()
    hmac_code = hmac.new(key_enc, b"", digestmod=hashlib.sha256).digest()
    return base64.b64encode(hmac_code).decode("utf-8")


def test_dingtalk_signed_markdown():
    n = WebhookNotifier("https://oapi.dingtalk.com/robot/send?access_token=abc",
                        flavor="dingtalk", secret="SEC0123", formatter=FMT, clock=lambda: NOW)
    url, body, headers = n.build_request(alert())
    q = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(q.query))
    assert params["access_token"] == "abc"
    assert params["timestamp"] == str(int(NOW * 1000))  # milliseconds
    # the raw (still URL-encoded) sign in the URL equals the vendor's encoded value
    raw_sign = q.query.split("sign=")[1]
    assert raw_sign == vendor_dingtalk_sign("SEC0123", params["timestamp"])
    payload = json.loads(body)
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"].startswith("【疑似偷排")
    assert "陶庄镇河" in payload["markdown"]["text"]
    assert headers["Content-Type"].startswith("application/json")


def test_feishu_signed_text():
    n = WebhookNotifier("https://open.feishu.cn/open-apis/bot/v2/hook/x", flavor="feishu",
                        secret="fs-secret", formatter=FMT, clock=lambda: NOW)
    url, body, _ = n.build_request(alert())
    assert url == "https://open.feishu.cn/open-apis/bot/v2/hook/x"
    payload = json.loads(body)
    assert payload["timestamp"] == str(int(NOW))  # seconds, as a string
    assert payload["sign"] == vendor_feishu_sign("fs-secret", payload["timestamp"])
    assert payload["msg_type"] == "text"
    assert "陶庄镇河" in payload["content"]["text"]


def test_feishu_without_secret_is_unsigned():
    n = WebhookNotifier("https://open.feishu.cn/x", flavor="feishu", formatter=FMT)
    assert "sign" not in json.loads(n.build_request(alert())[1])


def test_wecom_markdown():
    n = WebhookNotifier("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", flavor="wecom",
                        formatter=FMT)
    url, body, _ = n.build_request(alert())
    assert url.endswith("key=k")
    payload = json.loads(body)
    assert payload["msgtype"] == "markdown"
    assert "**【疑似偷排·严重】陶庄镇河(TZ_TOWN)**" in payload["markdown"]["content"]
    assert len(payload["markdown"]["content"].encode()) < 4096  # WeCom's limit


def test_generic_webhook_carries_alert_and_signature():
    n = WebhookNotifier("http://hooks.local/in", secret="gw", formatter=FMT)
    _, body, headers = n.build_request(alert())
    expected = "sha256=" + hmac.new(b"gw", body, hashlib.sha256).hexdigest()
    assert headers["X-Envmon-Signature"] == expected == webhook_signature("gw", body)
    payload = json.loads(body)
    assert payload["alert"]["suspected_source"] == "OF_TZ_RAIN"
    assert payload["link"].endswith("#ille-TZ_TOWN-1")


# -- real HTTP and failure classification (tests/httpstub.Receiver) --------------------------
@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_dingtalk_over_http(receiver):
    n = WebhookNotifier(receiver.url, flavor="dingtalk", secret="SECx", formatter=FMT)
    n.send(alert())
    path, body = receiver.requests[0]
    assert "sign=" in path and "timestamp=" in path
    assert "陶庄镇河" in json.loads(body)["markdown"]["text"]


@pytest.mark.parametrize(("status", "reply", "retryable"), [
    (503, {}, True),
    (429, {}, True),
    (400, {}, False),
    (404, {}, False),
    (200, {"errcode": 310000, "errmsg": "sign not match"}, False),
    (200, {"errcode": 130101, "errmsg": "send too fast"}, True),
    (200, {"code": 19021, "msg": "sign match fail"}, False),
])
def test_failures_are_classified(receiver, status, reply, retryable):
    receiver.status, receiver.reply = status, reply
    n = WebhookNotifier(receiver.url, flavor="dingtalk", formatter=FMT)
    with pytest.raises(NotifierError) as info:
        n.send(alert())
    assert info.value.retryable is retryable
    assert "access_token" not in str(info.value)


def test_unreachable_is_retryable_and_redacted():
    n = WebhookNotifier("http://127.0.0.1:9/robot?access_token=SECRET", flavor="dingtalk",
                        formatter=FMT, timeout_s=1)
    with pytest.raises(NotifierError) as info:
        n.send(alert())
    assert info.value.retryable and "SECRET" not in str(info.value)


# -- MQTT --------------------------------------------------------------------------------------
class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def publish(self, topic, payload, qos=1, retain=False):
        self.sent.append((topic, json.loads(payload)))


def test_mqtt_topic_per_jurisdiction_of_boundary_station():
    store = AlertStore(":memory:")
    rec = store.apply(Event("raised", alert(station="HQT_HENGGANG", id="exce-HQT-1",
                                            kind="exceedance", suspected_source=None,
                                            confidence=None)))
    pub = FakePublisher()
    MqttNotifier(publisher=pub).send(rec)
    assert [t for t, _ in pub.sent] == ["envmon/v1/alerts/jiashan/HQT_HENGGANG",
                                        "envmon/v1/alerts/qingpu/HQT_HENGGANG"]
    payload = pub.sent[0][1]
    for key in ("id", "kind", "station", "medium", "parameters", "start", "severity", "message"):
        assert key in payload  # DESIGN.md alert contract
    assert payload["status"] == "open"
    store.close()


# -- e-mail ------------------------------------------------------------------------------------
class SmtpServer:
    """Just enough SMTP to receive one message, or refuse with a configured code."""

    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[bytes] = []
        outer = self

        class H(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                w = self.wfile.write
                w(b"220 test ESMTP\r\n")
                while line := self.rfile.readline():
                    cmd = line.decode().strip().upper()
                    if cmd.startswith(("EHLO", "HELO")):
                        w(b"250 test\r\n")
                    elif cmd.startswith("MAIL"):
                        w(b"250 ok\r\n")
                    elif cmd.startswith("RCPT"):
                        w((refuse or "250 ok").encode() + b"\r\n")
                    elif cmd == "DATA":
                        w(b"354 go\r\n")
                        data = b""
                        while (ln := self.rfile.readline()) != b".\r\n":
                            data += ln
                        outer.messages.append(data)
                        w(b"250 queued\r\n")
                    elif cmd == "QUIT":
                        w(b"221 bye\r\n")
                        return
                    else:
                        w(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_email_delivered():
    srv = SmtpServer()
    try:
        EmailNotifier(smtp_host="127.0.0.1", smtp_port=srv.port, sender="envmon@x.cn",
                      to=["duty@x.cn"], formatter=FMT).send(alert())
        msg = message_from_bytes(srv.messages[0], policy=policy.default)
        assert msg["Subject"] == "【疑似偷排·严重】陶庄镇河(TZ_TOWN)"
        assert "陶庄工业区雨水排口" in msg.get_content()
    finally:
        srv.close()


@pytest.mark.parametrize(("reply", "retryable"), [("451 try later", True),
                                                  ("550 no such user", False)])
def test_email_failures_classified(reply, retryable):
    srv = SmtpServer(refuse=reply)
    try:
        n = EmailNotifier(smtp_host="127.0.0.1", smtp_port=srv.port, sender="a@x.cn",
                          to=["b@x.cn"], formatter=FMT)
        with pytest.raises(NotifierError) as info:
            n.send(alert())
        assert info.value.retryable is retryable
    finally:
        srv.close()
