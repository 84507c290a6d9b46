"""Notifiers: one interface, ``send(alert)``, for every way an alert reaches people.

* :class:`MqttNotifier` — the DESIGN.md alert topic ``envmon/v1/alerts/{jurisdiction}/{station}``
  (one message per jurisdiction that may see the station);
* :class:`WebhookNotifier` — a generic JSON webhook, or the group robots of DingTalk (钉钉,
  加签: HmacSHA256 over ``timestamp + "\\n" + secret`` keyed by the secret, Base64, URL-encoded
  into ``&timestamp=…&sign=…``), WeCom (企业微信, key in the URL, no signature) and Feishu
  (飞书, HmacSHA256 keyed by ``timestamp + "\\n" + secret`` over an empty message, Base64,
  ``timestamp`` and ``sign`` in the body);
* :class:`EmailNotifier` — SMTP, optionally STARTTLS or SSL.

A notifier raises :class:`NotifierError` with ``retryable`` telling the dispatcher whether a
later attempt can succeed (timeouts, 429, 5xx) or not (4xx, a refused signature), as
Telegraf's outputs classify their failures. Retrying is the dispatcher's job, not theirs.

Messages are short and Chinese: what, where (station, river), since when, suspected source
and how sure, and a link to the field page.

>>> from envmon.alerts import Alert
>>> from envmon.timeutil import parse_time
>>> a = Alert(id="a1", kind="illegal_discharge", station="TZ_TOWN", medium="water",
...           parameters=("cod", "nh3n"), start=parse_time("2026-07-14T02:00:00+08:00"),
...           severity="critical", message="COD、氨氮突升", suspected_source="OF_TZ_RAIN",
...           confidence=0.82)
>>> msg = MessageFormatter(link_base="http://envmon.local").format(a)
>>> msg.title
'【疑似偷排·严重】陶庄镇河(TZ_TOWN)'
>>> print(msg.text)
【疑似偷排·严重】陶庄镇河(TZ_TOWN)
河流：陶庄塘｜属地：嘉善
指标：化学需氧量、氨氮
开始：07-14 02:00（北京时间）
疑似来源：陶庄工业区雨水排口(OF_TZ_RAIN)，置信度 82%
COD、氨氮突升
详情：http://envmon.local/m/#a1
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

from envmon.alerting.store import StoredAlert
from envmon.alerts import KIND_ZH, SEVERITY_ZH, Alert
from envmon.mqttio import MqttConfig, MqttError, Publisher
from envmon.params import ParameterTable, load_parameters
from envmon.stations import JURISDICTION_ZH, Registry, RegistryError, load_registry
from envmon.timeutil import to_cst
from envmon.topics import alert_topic

WEBHOOK_FLAVORS = ("webhook", "dingtalk", "wecom", "feishu")
# Vendor error codes that mean "too many messages, try later" (rate limits).
_RATE_LIMIT_CODES = {130101, 45009, 9499, 11232}


class NotifierError(Exception):
    """A failed delivery; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Notifier(Protocol):
    """Delivers one alert message. The contract:

    * ``send(alert, note=None)`` returns when the receiver accepted the message and raises
      :class:`NotifierError` otherwise (never anything else for delivery problems);
    * ``note`` is one extra line (who it is for, an escalation) added to the message;
    * it is safe to call again after a retryable failure;
    * ``channel`` names the notifier in logs and in the store's delivery records.
    """

    channel: str

    def send(self, alert: Alert | StoredAlert, note: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str  # plain text, lines separated by \n
    markdown: str
    link: str


def _alert_of(alert: Alert | StoredAlert) -> tuple[Alert, str, str | None]:
    if isinstance(alert, StoredAlert):
        return alert.alert, alert.severity, alert.status
    return alert, alert.severity, None


class MessageFormatter:
    """Builds the short Chinese message all channels share.

    ``registry`` provides station names and rivers (the project's registry by default,
    loaded on first use); ``link_base`` is where the API serves the field page.

    >>> MessageFormatter(link_base="http://h:8765/").link("x-1")
    'http://h:8765/m/#x-1'
    """

    def __init__(self, *, link_base: str = "http://127.0.0.1:8765",
                 registry: Registry | None = None):
        self.link_base = link_base.rstrip("/")
        self._registry = registry
        self._params: ParameterTable | None = None

    def _reg(self) -> Registry:
        if self._registry is None:
            try:
                self._registry = load_registry()
            except RegistryError:
                self._registry = Registry([])
        return self._registry

    def _label(self, param: str) -> str:
        if self._params is None:
            try:
                self._params = load_parameters()
            except (OSError, ValueError):
                self._params = ParameterTable([])
        return self._params.label(param)

    def link(self, alert_id: str) -> str:
        return f"{self.link_base}/m/#{urllib.parse.quote(alert_id)}"

    def format(self, alert: Alert | StoredAlert, note: str | None = None) -> Message:
        a, severity, status = _alert_of(alert)
        st = self._reg().get(a.station)
        name = a.station_name or (st.name if st else a.station)
        title = f"【{KIND_ZH.get(a.kind, a.kind)}·{SEVERITY_ZH[severity]}】{name}({a.station})"
        lines = [title]
        where = []
        if st is not None and st.river:
            where.append(f"河流：{st.river}")
        if st is not None:
            where.append("属地：" + "、".join(JURISDICTION_ZH.get(j, j) for j in st.jurisdictions))
        if where:
            lines.append("｜".join(where))
        if a.parameters:
            lines.append("指标：" + "、".join(self._label(p) for p in a.parameters))
        since = f"开始：{to_cst(a.start):%m-%d %H:%M}（北京时间）"
        if a.last_seen and a.last_seen != a.start:
            since += f"，最近 {to_cst(a.last_seen):%H:%M}"
        lines.append(since)
        if a.suspected_source:
            src_text = self._reg().describe_source(a.suspected_source)
            conf = f"，置信度 {round(a.confidence * 100)}%" if a.confidence is not None else ""
            lines.append(f"疑似来源：{src_text}{conf}")
        if a.message:
            lines.append(a.message)
        if status and status not in ("open",):
            lines.append(f"状态：{status}")
        if note:
            lines.append(note)
        link = self.link(a.id)
        lines.append(f"详情：{link}")
        text = "\n".join(lines)
        md = "\n\n".join([f"**{title}**", *lines[1:-1], f"[详情]({link})"])
        return Message(title=title, text=text, markdown=md, link=link)


# -- webhooks ------------------------------------------------------------------------------
def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: Base64(HmacSHA256(key=secret, msg=f"{timestamp}\\n{secret}")).

    The caller URL-encodes it into the ``sign`` query parameter.

    >>> dingtalk_sign("SECxyz", 1700000000000)
    '0PUR1j8g85Xg3vlFV/UrEcxXfF5HpCAGzcjrNfyJoyg='
    """
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu 签名校验: Base64(HmacSHA256(key=f"{timestamp}\\n{secret}", msg=b"")).

    >>> feishu_sign("abc", 1700000000)
    'VIS10b0EBvzzSdFnuk4tznEmK5wHaruvf/WnViv2yR4='
    """
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def webhook_signature(secret: str, body: bytes) -> str:
    """Our generic webhook's ``X-Envmon-Signature``: ``sha256=<hex HMAC of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs the message as JSON in the format of ``flavor``.

    ``webhook`` sends ``{"event": "alert", "text", "title", "link", "alert": {...}}`` (signed
    in ``X-Envmon-Signature`` when a secret is given); ``dingtalk`` / ``wecom`` / ``feishu``
    send the robots' markdown / markdown / text messages, signed as their vendors require.

    >>> n = WebhookNotifier("http://robot.local/send?access_token=t", flavor="dingtalk",
    ...                     secret="SECxyz", clock=lambda: 1700000000.0)
    >>> n.build_request(_doc_alert())[0]
    'http://robot.local/send?access_token=t&timestamp=1700000000000&sign=0PUR1j8g85Xg3vlFV%2FUrEcxXfF5HpCAGzcjrNfyJoyg%3D'
    """

    def __init__(self, url: str, *, flavor: str = "webhook", secret: str | None = None,
                 formatter: MessageFormatter | None = None, timeout_s: float = 5.0,
                 channel: str | None = None, clock: Callable[[], float] = time.time):
        if flavor not in WEBHOOK_FLAVORS:
            raise ValueError(f"unknown webhook flavor {flavor!r} ({', '.join(WEBHOOK_FLAVORS)})")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s), got {url!r}")
        self.url = url
        self.flavor = flavor
        self.secret = secret
        self.formatter = formatter or MessageFormatter()
        self.timeout_s = float(timeout_s)
        self.channel = channel or flavor
        self.clock = clock

    def build_request(self, alert: Alert | StoredAlert,
                      note: str | None = None) -> tuple[str, bytes, dict[str, str]]:
        """(url, body, headers) of the POST for ``alert`` — pure, so tests can check it."""
        msg = self.formatter.format(alert, note)
        url = self.url
        headers = {"Content-Type": "application/json; charset=utf-8"}
        body: dict[str, Any]
        if self.flavor == "dingtalk":
            body = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": msg.markdown}}
            if self.secret:
                ts = int(self.clock() * 1000)
                sign = urllib.parse.quote_plus(dingtalk_sign(self.secret, ts))
                url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign}"
        elif self.flavor == "wecom":
            body = {"msgtype": "markdown", "markdown": {"content": msg.markdown}}
        elif self.flavor == "feishu":
            body = {"msg_type": "text", "content": {"text": msg.text}}
            if self.secret:
                ts = int(self.clock())
                body = {"timestamp": str(ts), "sign": feishu_sign(self.secret, ts), **body}
        else:
            a = alert.to_dict()
            body = {"event": "alert", "title": msg.title, "text": msg.text, "link": msg.link,
                    "alert": a}
        raw = json.dumps(body, ensure_ascii=False).encode()
        if self.flavor == "webhook" and self.secret:
            headers["X-Envmon-Signature"] = webhook_signature(self.secret, raw)
        return url, raw, headers

    def send(self, alert: Alert | StoredAlert, note: str | None = None) -> None:
        url, body, headers = self.build_request(alert, note)
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as err:
            retryable = err.code == 429 or err.code >= 500
            raise NotifierError(f"{self.channel}: HTTP {err.code} {err.reason}",
                                retryable=retryable) from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise NotifierError(f"{self.channel}: cannot reach {_redact(url)}: {err}",
                                retryable=True) from err
        self._check_reply(payload)

    def _check_reply(self, payload: bytes) -> None:
        # The robots answer HTTP 200 even on failure; the verdict is in the JSON body.
        if self.flavor == "webhook":
            return
        try:
            reply = json.loads(payload or b"{}")
        except ValueError as err:
            raise NotifierError(f"{self.channel}: reply is not JSON: {payload[:200]!r}",
                                retryable=True) from err
        code = reply.get("errcode", reply.get("code", reply.get("StatusCode", 0)))
        if code not in (0, None):
            msg = reply.get("errmsg") or reply.get("msg") or reply.get("StatusMessage")
            raise NotifierError(f"{self.channel}: robot refused the message: {code} {msg}",
                                retryable=code in _RATE_LIMIT_CODES)


def _redact(url: str) -> str:
    # Webhook URLs carry their credential (access_token, key): never log it.
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# -- MQTT ----------------------------------------------------------------------------------
class _PublisherLike(Protocol):
    def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                retain: bool = False) -> Any: ...


class MqttNotifier:
    """Publishes the alert (JSON, the DESIGN.md alert contract plus lifecycle fields) to
    ``envmon/v1/alerts/{jurisdiction}/{station}`` for each jurisdiction that may see it.

    Connects on first use when built from an :class:`MqttConfig`; a ready publisher can be
    passed instead (tests, a shared connection).

    >>> sent = []
    >>> class P:
    ...     def publish(self, topic, payload, qos=1, retain=False):
    ...         sent.append(topic)
    >>> MqttNotifier(publisher=P()).send(_doc_alert())
    >>> sent
    ['envmon/v1/alerts/jiashan/TZ_TOWN']
    """

    def __init__(self, config: MqttConfig | None = None, *, client_id: str = "envmon-alerting",
                 publisher: _PublisherLike | None = None, qos: int = 1,
                 timeout_s: float = 10.0, registry: Registry | None = None,
                 channel: str = "mqtt"):
        self.config = config or MqttConfig()
        self.client_id = client_id
        self.qos = qos
        self.timeout_s = timeout_s
        self.channel = channel
        self._publisher = publisher
        self._owned: Publisher | None = None
        self._registry = registry

    def _pub(self) -> _PublisherLike:
        if self._publisher is None:
            p = Publisher(self.config, self.client_id)
            try:
                p.connect(timeout=self.timeout_s)
            except MqttError as err:
                raise NotifierError(f"{self.channel}: {err}", retryable=True) from err
            self._publisher = self._owned = p
        return self._publisher

    def _jurisdictions(self, alert: Alert | StoredAlert) -> Sequence[str]:
        if isinstance(alert, StoredAlert) and alert.jurisdictions:
            return alert.jurisdictions
        a = alert.alert if isinstance(alert, StoredAlert) else alert
        if self._registry is None:
            try:
                self._registry = load_registry()
            except RegistryError:
                self._registry = Registry([])
        st = self._registry.get(a.station)
        if st is not None:
            return st.jurisdictions
        return [a.jurisdiction] if a.jurisdiction else []

    def send(self, alert: Alert | StoredAlert, note: str | None = None) -> None:
        a = alert.alert if isinstance(alert, StoredAlert) else alert
        payload = alert.to_dict()
        if note:
            payload = {**payload, "note": note}
        raw = json.dumps(payload, ensure_ascii=False)
        pub = self._pub()
        handles = [pub.publish(alert_topic(j, a.station), raw, qos=self.qos)
                   for j in self._jurisdictions(alert)]
        for h in handles:
            wait = getattr(h, "wait", None)
            if wait is not None and not wait(self.timeout_s):
                raise NotifierError(f"{self.channel}: broker did not acknowledge the alert",
                                    retryable=True)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = self._publisher = None


# -- e-mail --------------------------------------------------------------------------------
class EmailNotifier:
    """Sends the message by SMTP (STARTTLS when ``starttls``, implicit TLS when ``ssl``).

    >>> n = EmailNotifier(smtp_host="localhost", sender="a@x.cn", to=["b@x.cn"])
    >>> m = n.build_message(_doc_alert())
    >>> m["Subject"], m["To"]
    ('【疑似偷排·严重】陶庄镇河(TZ_TOWN)', 'b@x.cn')
    """

    def __init__(self, *, smtp_host: str, sender: str, to: Sequence[str], smtp_port: int = 25,
                 starttls: bool = False, ssl: bool = False, username: str | None = None,
                 password: str | None = None, timeout_s: float = 10.0,
                 formatter: MessageFormatter | None = None, channel: str = "email"):
        if not to:
            raise ValueError("email notifier needs at least one recipient")
        self.smtp_host = smtp_host
        self.smtp_port = int(smtp_port)
        self.sender = sender
        self.to = list(to)
        self.starttls = starttls
        self.use_ssl = ssl
        self.username = username
        self.password = password
        self.timeout_s = float(timeout_s)
        self.formatter = formatter or MessageFormatter()
        self.channel = channel

    def build_message(self, alert: Alert | StoredAlert, note: str | None = None) -> EmailMessage:
        msg = self.formatter.format(alert, note)
        m = EmailMessage()
        m["Subject"] = msg.title
        m["From"] = self.sender
        m["To"] = ", ".join(self.to)
        m.set_content(msg.text)
        return m

    def send(self, alert: Alert | StoredAlert, note: str | None = None) -> None:
        m = self.build_message(alert, note)
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.smtp_host, self.smtp_port,
                                                      timeout=self.timeout_s)
            else:
                smtp = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_s)
            with smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(m)
        except smtplib.SMTPResponseException as err:
            # 4xx: temporary (greylisting, busy); 5xx: permanent (auth, bad recipient).
            raise NotifierError(f"{self.channel}: SMTP {err.smtp_code} {err.smtp_error!r}",
                                retryable=400 <= err.smtp_code < 500) from err
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            # all refusals temporary (4xx, e.g. greylisting) → a later attempt may pass
            raise NotifierError(f"{self.channel}: recipients refused: {err.recipients}",
                                retryable=all(400 <= c < 500 for c in codes)) from err
        except (smtplib.SMTPException, OSError) as err:
            raise NotifierError(f"{self.channel}: {self.smtp_host}:{self.smtp_port}: {err}",
                                retryable=True) from err


def build_notifier(channel_id: str, channel_type: str, options: Mapping[str, Any], *,
                   formatter: MessageFormatter, mqtt: MqttConfig | None = None) -> Notifier:
    """A notifier for one configured channel (``options`` already resolved from env)."""
    opts = dict(options)
    if channel_type == "mqtt":
        return MqttNotifier(mqtt, client_id=f"envmon-alerting-{channel_id}",
                            qos=int(opts.get("qos", 1)), channel=channel_id)
    if channel_type in WEBHOOK_FLAVORS:
        return WebhookNotifier(opts["url"], flavor=channel_type, secret=opts.get("secret"),
                               formatter=formatter, timeout_s=float(opts.get("timeout_s", 5.0)),
                               channel=channel_id)
    if channel_type == "email":
        return EmailNotifier(smtp_host=opts["smtp_host"], sender=opts["sender"], to=opts["to"],
                             smtp_port=int(opts.get("smtp_port", 25)),
                             starttls=bool(opts.get("starttls", False)),
                             ssl=bool(opts.get("ssl", False)), username=opts.get("username"),
                             password=opts.get("password"),
                             timeout_s=float(opts.get("timeout_s", 10.0)),
                             formatter=formatter, channel=channel_id)
    raise ValueError(f"unknown channel type {channel_type!r}")


def _doc_alert() -> Alert:
    """The alert the doctests of this module use."""
    from envmon.timeutil import parse_time

    return Alert(id="a1", kind="illegal_discharge", station="TZ_TOWN", medium="water",
                 parameters=("cod",), start=parse_time("2026-07-14T02:00:00+08:00"),
                 severity="critical", message="COD 突升", suspected_source="OF_TZ_RAIN",
                 confidence=0.8)
