"""The code examples of README.md and docs/*.md, found, classified and run by the docs tests.

Every fenced block must say what it is, so that a new example cannot go untested unnoticed:

- ```` ```python ````: run. A block defining ``test_*`` functions is a pytest example: each
  function is called with the fixtures it names (the plugin's, resolved by pytest). Any other
  block is a script, executed from the repository's root.
- ```` ```bash ```` / ```` ```console ```` (``$ `` lines are the commands): run with bash from
  the repository's root, the test environment's ``python``/``pytest``/``aws`` first on PATH;
  every command must exit 0. Unmarked, only quick commands (``--help``) may appear.
- ```` ```toml ````: parsed; a ``[tool.harness]`` table is validated as ``python -m harness
  run`` would read it.
- ```` ```text ````: output, a diagram, a tree: nothing to run (a ``$ `` line in it is a
  command, which must be in a ``console`` block).

A comment on the line before the fence changes that:

- ``<!-- not-run: REASON -->``: the block is not run (a real AWS account, Docker, a server that
  runs until Ctrl-C, a fragment); the reason is required;
- ``<!-- run-in: integration -->``: too slow for the unit layer (a whole DAG run with Spark);
  ``tests/integration/docs`` runs it.

Anything else (no language, another language, a slow unmarked shell command) is an
``UnclassifiedBlock`` error naming the file and line.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
UNIT, INTEGRATION, NOT_RUN = "unit", "integration", "not-run"
KINDS = ("python-test", "python", "shell", "toml", "text")

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<key>[a-z-]+)\s*:?\s*(?P<value>.*?)\s*-->\s*$")
_SHELL_LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "console": "console"}
#: a command quick enough for the unit layer without a marker: it only prints its usage.
_QUICK = re.compile(r"(^|\s)(--help|-h)(\s|$)")


class UnclassifiedBlock(ValueError):
    """A fenced block the docs tests do not know how to treat (the message says how to fix it)."""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: tuple[str, str] | None = None  # ("not-run", reason) or ("run-in", layer)
    where: list[str] = field(default_factory=list, compare=False)

    @property
    def location(self) -> str:
        return _loc(self.path, self.line - 1)

    @property
    def kind(self) -> str:
        return classify(self)[0]

    @property
    def layer(self) -> str:
        return classify(self)[1]

    def commands(self) -> list[str]:
        """The shell commands of a bash/console block (comments and output left out)."""
        return shell_commands(self.code, console=self.lang == "console")


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def parse(text: str, path: Path) -> list[Block]:
    """The fenced blocks of one markdown text, with the marker comment before each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise UnclassifiedBlock(f"{_loc(path, i)}: the fence opened here is never closed")
        body = "\n".join(line[indent:] for line in lines[i + 1:end])
        blocks.append(Block(path, i + 1, m.group("info").strip(), body + "\n",
                            _marker(lines, i, path)))
        i = end + 1
    return blocks


def _marker(lines: list[str], fence: int, path: Path) -> tuple[str, str] | None:
    prev = fence - 1
    while prev >= 0 and not lines[prev].strip():
        prev -= 1
    m = _MARKER.match(lines[prev]) if prev >= 0 else None
    if not m:
        return None
    key, value = m.group("key"), m.group("value")
    if key == "not-run":
        if not value:
            raise UnclassifiedBlock(f"{_loc(path, fence)}: `<!-- not-run: ... -->` needs a "
                                    "reason (why the block cannot run offline, what tests it "
                                    "instead)")
        return (NOT_RUN, value)
    if key == "run-in":
        if value != INTEGRATION:
            raise UnclassifiedBlock(f"{_loc(path, fence)}: `<!-- run-in: {value} -->`: the "
                                    f"only layer is {INTEGRATION!r}")
        return ("run-in", value)
    return None  # another comment: not ours


def classify(block: Block) -> tuple[str, str]:
    """(kind, layer) of a block, or ``UnclassifiedBlock`` saying what to do."""
    lang = block.lang.split()[0] if block.lang else ""
    if lang == "python":
        kind = "python-test" if re.search(r"^def test_\w*\(", block.code, re.M) else "python"
    elif lang in _SHELL_LANGS:
        kind = "shell"
    elif lang in ("toml", "text"):
        kind = lang
    elif not lang:
        raise UnclassifiedBlock(f"{block.location}: a fence without a language; say what it "
                                f"is: python, bash, console, toml or text")
    else:
        raise UnclassifiedBlock(f"{block.location}: ```{lang} is not a language the docs tests "
                                f"know ({', '.join(('python', *_SHELL_LANGS, 'toml', 'text'))})")
    if block.marker and block.marker[0] == NOT_RUN:
        return kind, NOT_RUN
    if kind == "text":
        commands = [line for line in block.code.splitlines() if line.startswith("$ ")]
        if commands:
            raise UnclassifiedBlock(f"{block.location}: a text block with a command "
                                    f"({commands[0]!r}): make it ```console (it then runs) or "
                                    f"mark it <!-- not-run: REASON -->")
        if block.marker:
            raise UnclassifiedBlock(f"{block.location}: a text block is never run; drop the "
                                    "run-in marker")
        return kind, NOT_RUN
    if block.marker:
        return kind, INTEGRATION
    if kind == "shell":
        commands = block.commands()
        if not commands:
            raise UnclassifiedBlock(f"{block.location}: a shell block without a command")
        slow = [c for c in commands if not _QUICK.search(c)]
        if slow:
            raise UnclassifiedBlock(
                f"{block.location}: {slow[0]!r} is not a quick command (only `--help` runs "
                f"unmarked in the unit layer): mark the block <!-- run-in: integration --> "
                f"(it then runs there) or <!-- not-run: REASON -->")
    return kind, UNIT


def shell_commands(code: str, *, console: bool) -> list[str]:
    lines = code.splitlines()
    if console:
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line)
    commands = []
    for line in joined:
        lexer = shlex.shlex(line, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            words = list(lexer)
        except ValueError:  # unbalanced quotes: let bash report it when the block runs
            words = [line]
        if words:  # something left once comments are removed
            commands.append(line.strip())
    return commands


def all_blocks(root: Path = ROOT) -> list[Block]:
    return [b for path in doc_files(root) for b in parse(path.read_text(encoding="utf-8"), path)]


def runnable(layer: str, root: Path = ROOT) -> list[Block]:
    """The blocks of one layer, identical code run once (the README repeats docs/ examples);
    ``where`` lists every place a block appears."""
    seen: dict[tuple[str, str], Block] = {}
    for block in all_blocks(root):
        if block.layer != layer:
            continue
        key = (block.kind, block.code.strip())
        first = seen.setdefault(key, block)
        first.where.append(block.location)
    return list(seen.values())


def _loc(path: Path, index: int) -> str:
    try:
        name = path.relative_to(ROOT)
    except ValueError:
        name = path
    return f"{name}:{index + 1}"


# ----------------------------------------------------------------------------- running them


def run_python(block: Block, getfixturevalue: Callable[[str], Any]) -> None:
    """Execute a python block from the repository's root (the caller chdirs there). A pytest
    example's ``test_*`` functions are then called with the fixtures they name."""
    # Blank lines first, so a traceback's line numbers are the markdown file's.
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(code, namespace)  # noqa: S102 - running the documentation's example is the point
    if block.kind != "python-test":
        return
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert tests, f"{block.location}: no test function found"
    for test in tests:
        test(**{name: getfixturevalue(name) for name in inspect.signature(test).parameters})


def check_toml(block: Block) -> None:
    """Parse a toml block; a ``[tool.harness]`` table must be one ``harness run`` accepts."""
    from harness.config import config_from_table

    data = tomllib.loads(block.code)
    tool = data.get("tool", {})
    if "harness" in tool:
        config_from_table(tool["harness"], base=ROOT)


def shell_env(**extra: str) -> dict[str, str]:
    """The environment shell examples run in: this interpreter's ``python``, ``pytest`` and
    ``aws`` first on PATH (the "project's environment" the docs talk about)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def run_shell(block: Block, *, env: dict[str, str], timeout: float) -> str:
    """Run a shell block's commands with bash from the repository's root; each must exit 0.
    Returns their stdout."""
    script = "\n".join(block.commands())
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{block.location}: still running after {timeout:.0f} s:\n"
                             f"{script}\nstdout tail:\n{_tail(exc.stdout)}\nstderr tail:\n"
                             f"{_tail(exc.stderr)}") from None
    assert done.returncode == 0, (
        f"{block.location}: exit {done.returncode} from\n{script}\nstdout tail:\n"
        f"{_tail(done.stdout)}\nstderr tail:\n{_tail(done.stderr)}")
    return done.stdout


def _tail(text: str | bytes | None, lines: int = 25) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])
