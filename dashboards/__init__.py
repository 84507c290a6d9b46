"""Grafana dashboards as code: generated from the station registry and the standards tables,
rendered to provisioning files (:mod:`dashboards.render`) or pushed over Grafana's API
(:mod:`dashboards.push`, the only module that imports ``grafana_client``).

Modules: :mod:`dashboards.model` (typed builder), :mod:`dashboards.catalog` (the seven
dashboards), :mod:`dashboards.standards` (limits read from ``seeds/standards``),
:mod:`dashboards.queries` (every query, Grafana's substitution, for tests).
"""
