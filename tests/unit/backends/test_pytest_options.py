"""The plugin's backend options, run in a throw-away pytest session (pytester)."""

from __future__ import annotations

pytest_plugins = ["pytester"]

ALL_SKIP = """
import pytest

def test_a():
    pytest.skip("no engine here")
"""

ONE_PASSES = ALL_SKIP + """
def test_b():
    assert 1 + 1 == 2
"""


def test_fail_if_all_skipped_fails_a_session_of_skips_only(pytester):
    pytester.makepyfile(ALL_SKIP)
    result = pytester.runpytest("--fail-if-all-skipped", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*--fail-if-all-skipped: all 1 test(s) skipped*"])


def test_fail_if_all_skipped_passes_when_something_ran(pytester):
    pytester.makepyfile(ONE_PASSES)
    assert pytester.runpytest("--fail-if-all-skipped", "-p", "no:cacheprovider").ret == 0


def test_skips_alone_pass_without_the_option(pytester):
    pytester.makepyfile(ALL_SKIP)
    assert pytester.runpytest("-p", "no:cacheprovider").ret == 0


def test_backend_option_parametrizes_and_names_unknown_backends(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.fixture
        def harness_backend(request):  # no server: only the parametrization is under test
            return request.param

        def test_x(backend):
            assert backend in ("embedded", "localstack")
    """)
    result = pytester.runpytest("--backend=embedded,localstack", "-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_x?embedded? PASSED*", "*test_x?localstack? PASSED*"])
    bad = pytester.runpytest("--backend=embedded,moto", "-p", "no:cacheprovider")
    assert bad.ret != 0
    bad.stderr.fnmatch_lines(["ERROR: --backend: unknown *'moto'*choose from*"])


def test_a_users_own_backend_and_spark_fixtures_win_and_are_left_alone(pytester):
    """A conftest's `backend` and `spark` replace the plugin's aliases for its tests: no
    parametrization, no JVM, and the plugin's `harness_` fixtures stay reachable."""
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def backend():
            return "my own backend"

        @pytest.fixture
        def spark():
            return "my own spark"
    """)
    pytester.makepyfile("""
        def test_mine(backend, spark):
            assert (backend, spark) == ("my own backend", "my own spark")

        def test_harness_names_still_there(request):
            for name in ("harness_spark", "harness_backend", "harness_emulated_aws"):
                assert request._fixturemanager.getfixturedefs(name, request.node)
    """)
    result = pytester.runpytest("--backend=embedded,localstack", "-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_mine PASSED*", "*test_harness_names_still_there PASSED*"])
    assert result.ret == 0
