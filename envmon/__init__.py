"""envmon: environmental monitoring of the Jiashan–Qingpu–Wujiang demonstration zone.

The shared vocabulary lives here (readings, stations, parameters, topics, alerts, settings)
together with the ``envmon`` command line. Nothing in this package opens a socket or reads
the environment at import time.
"""

__version__ = "0.1.0"
