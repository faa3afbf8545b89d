from harness import fast_exit

fast_exit.install()  # first: the interpreter's teardown after a finished command is skipped

from harness.cli import main  # noqa: E402

code = main()
if isinstance(code, int):
    fast_exit.done(code)
raise SystemExit(code)
