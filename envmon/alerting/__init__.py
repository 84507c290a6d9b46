"""Alerting: the 监测—预警—处置—反馈 loop after the pure analytics core.

``store`` keeps alerts and their lifecycle (SQLite, append-only audit); ``routing`` decides
who gets an alert and when it escalates; ``notifiers`` deliver it (MQTT, DingTalk / WeCom /
Feishu robots, generic webhook, SMTP); ``dispatcher`` connects the three without ever
blocking detection; ``api`` and ``web`` serve field teams over HTTP.

Nothing here opens a file, socket or database at import time.
"""
