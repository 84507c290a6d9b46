"""The report's CJK font, found even when matplotlib's font cache predates it."""

from __future__ import annotations

import pytest
from matplotlib import font_manager

from envmon.report import CJK_FONTS, cjk_font


def test_a_cjk_font_installed_after_matplotlibs_cache_was_built_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    # Matplotlib lists the system's fonts once and caches the list: a CJK font installed
    # after that (the services script installs fonts-wqy-microhei) was missed, and the
    # joint report fell back to English labels with Chinese station names as empty boxes.
    if cjk_font() is None:
        pytest.skip("no CJK font installed (make test installs fonts-wqy-microhei)")
    fm = font_manager.fontManager
    files = {f.fname for f in fm.ttflist if f.name in CJK_FONTS}  # the list as the old cache had it
    monkeypatch.setattr(fm, "ttflist", [f for f in fm.ttflist if f.fname not in files])
    assert cjk_font() in CJK_FONTS
