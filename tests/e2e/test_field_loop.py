"""The field loop end to end, in a real headless Chromium (监测—预警—处置—反馈).

An ``illegal_discharge`` Event (standing in for the simulator's discharge, until the lead
connects the analytics pipeline) → dispatcher → alert store → DingTalk-format webhook to a
local test robot that checks the signature → acknowledged through the API → resolved with
a cause and a note on the phone page in Chromium → the audit trail is complete.

Chromium comes from Debian's packages: when /usr/bin/chromium or /usr/bin/chromedriver is
missing the test runs ``apt-get update`` and ``apt-get install -y chromium chromium-driver``
and fails with a clear message if that is impossible. It never downloads a browser.
A screenshot is kept in ``out/test-artifacts/field_loop.png``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
import uvicorn

from envmon.alerting.api import InMemorySeriesSource, TokenStore, create_app, hash_token
from envmon.alerting.dispatcher import Dispatcher
from envmon.alerting.notifiers import MessageFormatter, build_notifier
from envmon.alerting.routing import parse_routing
from envmon.alerting.store import AlertStore
from envmon.alerts import Alert, Event, alert_id
from envmon.paths import OUT_DIR
from envmon.stations import load_registry
from tests.httpstub import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "SECe2e-robot-secret"
FIELD_TOKEN = "field-token-jiashan"
ARTIFACTS = OUT_DIR / "test-artifacts"


def ensure_chromium() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing and apt-get is not available; "
                    "install Debian's chromium and chromium-driver packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update"], [apt, "install", "-y", "chromium", "chromium-driver"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if r.returncode != 0:
            pytest.fail(f"cannot install Chromium: {' '.join(cmd)} exited {r.returncode}:\n"
                        f"{r.stderr[-2000:]}\nrun as root: apt-get update && "
                        "apt-get install -y chromium chromium-driver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("apt-get installed chromium but /usr/bin/chromium or chromedriver is missing")


def ensure_cjk_font() -> None:
    """Chinese glyphs in the screenshot (cosmetic: the assertions read the DOM, not pixels)."""
    fc = shutil.which("fc-list")
    if fc and subprocess.run([fc, ":lang=zh"], capture_output=True, text=True).stdout.strip():
        return
    apt = shutil.which("apt-get")
    if apt:
        subprocess.run([apt, "install", "-y", "fonts-wqy-microhei"], capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DingTalkRobot:
    """A local stand-in for a DingTalk group robot that verifies 加签 like the real one."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.rejected: list[str] = []
        self._stub = Receiver("/robot/send?access_token=e2e", respond=self._answer)
        self.url = self._stub.url
        self.got = threading.Event()

    def _answer(self, path: str, raw: bytes) -> tuple[int, dict]:
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        ts = q.get("timestamp", "")
        expected = base64.b64encode(hmac.new(
            SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
        fresh = ts.isdigit() and abs(time.time() * 1000 - int(ts)) < 3600_000
        if q.get("sign") == expected and fresh and q.get("access_token") == "e2e":
            self.messages.append(json.loads(raw))
            self.got.set()
            return 200, {"errcode": 0, "errmsg": "ok"}
        self.rejected.append(path)
        return 200, {"errcode": 310000, "errmsg": "sign not match"}

    def close(self) -> None:
        self._stub.close()


def start_api(app, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the API did not start within 10 s")
        time.sleep(0.05)
    return server, t


def browser(user_data: str):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: .venv/bin/pip install 'selenium>=4.20'")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={user_data}",
                 "--window-size=412,915"):  # a phone-sized viewport
        opts.add_argument(flag)
    # An explicit driver path: Selenium Manager never downloads anything.
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def test_discharge_event_to_webhook_ack_resolve_in_browser_audit_complete(tmp_path):
    ensure_chromium()
    ensure_cjk_font()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    registry = load_registry()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    robot = DingTalkRobot()
    store = AlertStore(tmp_path / "alerts.sqlite", registry=registry)
    routing = parse_routing({
        "defaults": {"link_base": base, "ack_deadline_minutes": 20},
        "channels": {"js_ding": {"type": "dingtalk", "url_env": "E2E_DING_URL",
                                 "secret_env": "E2E_DING_SECRET"}},
        "teams": {"js_enforcement": {"name": "嘉善县生态环境执法大队",
                                     "jurisdiction": "jiashan", "channels": ["js_ding"]}},
        "routes": [{"jurisdiction": "jiashan", "kinds": ["illegal_discharge"],
                    "teams": ["js_enforcement"]}],
    })
    fmt = MessageFormatter(link_base=routing.link_base, registry=registry)
    env = {"E2E_DING_URL": robot.url, "E2E_DING_SECRET": SECRET}
    notifiers = {cid: build_notifier(cid, ch.type, ch.resolve(env), formatter=fmt)
                 for cid, ch in routing.channels.items()}
    dispatcher = Dispatcher(store, routing, notifiers, backoff_s=0.1)
    dispatcher.start()

    # The discharge: COD and NH3-N jump at TZ_TOWN downstream of the industrial rain outfall.
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=40)
    series = InMemorySeriesSource()
    for i in range(-180, 1, 5):
        t = now + timedelta(minutes=i)
        jump = t >= start
        series.add("TZ_TOWN", "cod", t, 16.0 + (22.0 if jump else 0.0) + (i % 3))
        series.add("TZ_TOWN", "nh3n", t, 0.6 + (1.9 if jump else 0.0))
    alert = Alert(id=alert_id("TZ_TOWN", "illegal_discharge", start), kind="illegal_discharge",
                  station="TZ_TOWN", medium="water", parameters=("cod", "nh3n"), start=start,
                  severity="warning", message="COD、氨氮同步突升，上游雨水排口晴天排水",
                  suspected_source="OF_TZ_RAIN", confidence=0.86, last_seen=now)
    tokens = TokenStore.from_entries([
        {"name": "js-enforcement", "role": "field", "jurisdictions": ["jiashan"],
         "sha256": hash_token(FIELD_TOKEN)}])
    server, thread = start_api(create_app(store=store, tokens=tokens, registry=registry,
                                          series=series), port)
    driver = None
    try:
        # 监测 → 预警: the event goes in without blocking; the robot receives the message.
        assert dispatcher.submit(Event("raised", alert))
        assert robot.got.wait(15), f"no webhook received (rejected: {robot.rejected})"
        assert dispatcher.wait_idle(10)
        md = robot.messages[0]["markdown"]
        for expected in ("疑似偷排", "陶庄镇河", "TZ_TOWN", "陶庄塘", "化学需氧量", "氨氮",
                         "陶庄工业区雨水排口", "86%", "嘉善县生态环境执法大队",
                         f"{base}/m/#{alert.id}"):
            assert expected in md["text"], f"{expected!r} missing from {md['text']!r}"
        assert md["title"].startswith("【疑似偷排")
        link = md["text"].split("[详情](")[1].rstrip(")")

        # 处置: the team acknowledges through the API.
        auth = {"Authorization": f"Bearer {FIELD_TOKEN}"}
        r = httpx2.post(f"{base}/api/v1/alerts/{alert.id}/acknowledge", headers=auth,
                       json={"note": "收到，出发", "by": "张工"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "acknowledged"

        # 反馈: on the phone page, resolve with a cause and a note.
        # The browser is quit before its profile folder is removed (it writes there until it
        # exits); what a helper process may still leave behind for a moment is not the test's.
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
            driver = browser(profile)
            wait = WebDriverWait(driver, 20)
            driver.get(f"{base}/m/")
            wait.until(ec.visibility_of_element_located((By.ID, "token-input"))).send_keys(
                FIELD_TOKEN)
            driver.find_element(By.ID, "by-input").send_keys("李队")
            driver.find_element(By.ID, "token-save").click()
            card = wait.until(ec.visibility_of_element_located(
                (By.CSS_SELECTOR, f'#open-alerts .alert-card[data-id="{alert.id}"]')))
            assert "陶庄镇河" in card.text
            driver.get(link)  # the link from the message
            wait.until(ec.visibility_of_element_located((By.ID, "resolve-form")))
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#chart svg path")))
            assert "陶庄工业区雨水排口" in driver.find_element(By.ID, "d-facts").text
            Select(driver.find_element(By.ID, "resolve-cause")).select_by_visible_text("偷排")
            driver.find_element(By.ID, "resolve-note").send_keys(
                "排口有黑色废水，已取样并封堵，移交执法")
            driver.find_element(By.ID, "btn-resolve").click()
            wait.until(lambda d: d.find_element(By.ID, "status").get_attribute(
                "data-status") == "resolved")
            wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "已提交处置反馈"))
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "field_loop.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 5000
            driver.quit()
            driver = None

        # The loop is closed and every step is in the audit trail.
        rec = store.get(alert.id)
        assert rec.status == "resolved" and rec.cause == "illegal_discharge"
        assert rec.resolution_note == "排口有黑色废水，已取样并封堵，移交执法"
        trail = [(e.action, e.actor) for e in store.audit(alert.id)]
        assert trail == [
            ("raised", "system:analytics"),
            ("notified", "system:notifier"),
            ("acknowledge", "js-enforcement/张工"),
            ("resolve", "js-enforcement/李队"),
        ], trail
        assert all(e.at is not None for e in store.audit(alert.id))
        delivered = store.deliveries(alert.id)
        assert [(d.channel, d.ok) for d in delivered] == [("js_ding", True)]
    finally:
        if driver is not None:
            driver.quit()
        server.should_exit = True
        thread.join(10)
        dispatcher.stop()
        robot.close()
        store.close()
