"""The harness package's small public API (harness/__init__.py)."""

from __future__ import annotations

import pytest


def test_public_api_names_resolve_lazily():
    import harness

    assert sorted(harness.__all__) == sorted(harness._LAZY)
    for name in harness.__all__:
        assert callable(getattr(harness, name)), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        harness.nope  # noqa: B018
