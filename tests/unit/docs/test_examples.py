"""The examples of README.md and docs/*.md run (tests/docs_examples.py says how each kind is
treated); every block is classified, so a new one cannot go untested unnoticed. The slow ones
(a DAG end to end with Spark) are in tests/integration/docs."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from tests import docs_examples as docs
from tests.docs_examples import ROOT, Block, UnclassifiedBlock

#: the README stays short: quick start, map, one example per layer (reference is in docs/).
README_MAX_LINES = 165


def test_every_block_is_classified() -> None:
    problems = []
    for path in docs.doc_files():
        try:
            blocks = docs.parse(path.read_text(encoding="utf-8"), path)
        except UnclassifiedBlock as exc:
            problems.append(str(exc))
            continue
        for block in blocks:
            try:
                docs.classify(block)
            except UnclassifiedBlock as exc:
                problems.append(str(exc))
    assert not problems, "\n".join(problems)


UNIT_BLOCKS = docs.runnable(docs.UNIT)


def _uses_local_spark(block: Block) -> bool:
    """A pytest example whose test functions take the plugin's local SparkSession."""
    if block.kind != "python-test":
        return False
    tests = [node for node in ast.walk(ast.parse(block.code))
             if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    return any(arg.arg in ("spark", "harness_spark") for t in tests for arg in t.args.args)


def _param(block: Block) -> object:
    # With the other tests of the session's SparkSession (tests/unit/conftest.py): on another
    # xdist worker the example started a second JVM.
    marks = [pytest.mark.xdist_group("local-spark")] if _uses_local_spark(block) else []
    return pytest.param(block, marks=marks, id=block.location)


def test_the_spark_example_is_grouped_with_the_spark_tests() -> None:
    # The README's chispa example takes `spark`; a detection that finds nothing groups nothing.
    assert any(b.path.name == "README.md" for b in UNIT_BLOCKS if _uses_local_spark(b))


@pytest.mark.parametrize("block", [_param(b) for b in UNIT_BLOCKS])
def test_example_runs(block: Block, request: pytest.FixtureRequest,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    if block.kind in ("python", "python-test"):
        docs.run_python(block, request.getfixturevalue)
    elif block.kind == "toml":
        docs.check_toml(block)
    else:
        assert block.kind == "shell", block
        docs.run_shell(block, env=docs.shell_env(), timeout=120)


def test_each_layer_of_the_readme_has_a_running_example() -> None:
    readme = ROOT / "README.md"
    blocks = docs.parse(readme.read_text(encoding="utf-8"), readme)
    run = [b for b in blocks if b.layer != docs.NOT_RUN]
    kinds = {b.kind for b in run}
    assert {"python-test", "python", "shell"} <= kinds, kinds
    assert len(run) >= 5, [b.location for b in run]


def test_the_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): it holds the quick start, "
        "the map and one example per layer; move reference material to a page in docs/")


def test_the_readme_quotes_no_measurements() -> None:
    """Timings go stale: the README links docs/benchmarks.md instead of quoting them."""
    prose = re.sub(r"^```.*?^```", "", (ROOT / "README.md").read_text(), flags=re.S | re.M)
    quoted = re.findall(r"\b\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds|min|minutes|x|GB|MB|MiB|GiB)\b",
                        prose)
    assert not quoted, f"README.md quotes measurements {quoted}: link docs/benchmarks.md"
    assert "docs/benchmarks.md" in prose


def test_the_quick_start_is_what_ci_runs() -> None:
    """README command 1 runs the pipeline offline, command 2 the tests, and .ci/run runs exactly
    command 2."""
    readme = ROOT / "README.md"
    first = next(b for b in docs.parse(readme.read_text(encoding="utf-8"), readme)
                 if b.kind == "shell")
    assert first.commands() and len(first.commands()) == 2, first.code
    pipeline, tests = (shlex.split(c, comments=True) for c in first.commands())
    assert pipeline == ["python3", ".ci/nox.py", "-s", "pipeline"]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith("#")]
    assert shlex.split(ci[-1]) == tests, f".ci/run ends with {ci[-1]!r}, README says {tests}"
    noxfile = (ROOT / "noxfile.py").read_text()
    session = re.search(r"def pipeline\(.*?\n\n\n", noxfile, re.S)
    assert session and '"-m", "harness", "run"' in session.group(0)


def test_links_between_the_pages_resolve() -> None:
    broken = []
    for path in docs.doc_files():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken


# ------------------------------------------------------------------ the classifier itself


def _blocks(tmp_path: Path, text: str) -> list[Block]:
    return docs.parse(text, tmp_path / "page.md")


@pytest.mark.parametrize(("text", "message"), [
    ("```\nx = 1\n```\n", "a fence without a language"),
    ("```ruby\nputs 1\n```\n", "```ruby is not a language"),
    ("```bash\npython -m harness run\n```\n",
     "'python -m harness run' is not a quick command"),
    ("```text\n$ python -m harness serve\nready\n```\n", "a text block with a command"),
    ("```bash\n# only a comment\n```\n", "a shell block without a command"),
])
def test_an_unmarked_block_that_cannot_run_here_fails(tmp_path: Path, text: str,
                                                      message: str) -> None:
    [block] = _blocks(tmp_path, text)
    with pytest.raises(UnclassifiedBlock, match=re.escape(message)) as caught:
        docs.classify(block)
    assert "page.md:1" in str(caught.value)


def test_markers_decide_the_layer_and_need_a_reason(tmp_path: Path) -> None:
    text = ("<!-- not-run: needs a real AWS account -->\n```bash\nnox -s smoke_aws\n```\n\n"
            "<!-- run-in: integration -->\n\n```bash\npython -m harness run\n```\n"
            "```console\n$ python -m harness run --help  # usage\nusage: ...\n```\n"
            "```python\ndef test_x(spark):\n    pass\n```\n")
    layers = [(b.kind, b.layer) for b in _blocks(tmp_path, text)]
    assert layers == [("shell", "not-run"), ("shell", "integration"), ("shell", "unit"),
                      ("python-test", "unit")]
    with pytest.raises(UnclassifiedBlock, match="needs a reason"):
        _blocks(tmp_path, "<!-- not-run: -->\n```bash\nls\n```\n")
    with pytest.raises(UnclassifiedBlock, match="the only layer is 'integration'"):
        _blocks(tmp_path, "<!-- run-in: stack -->\n```bash\nls\n```\n")
    with pytest.raises(UnclassifiedBlock, match="never closed"):
        _blocks(tmp_path, "```python\nx = 1\n")


def test_shell_commands_join_continuations_and_drop_comments_and_output() -> None:
    assert docs.shell_commands("a \\\n  --b  # c\n# d\n\ne 'f#g'\n", console=False) == [
        "a --b  # c", "e 'f#g'"]
    assert docs.shell_commands("$ a\noutput\n$ b # x\n", console=True) == ["a", "b # x"]


def test_a_failing_example_fails_with_its_location_and_output(tmp_path: Path) -> None:
    [python, shell] = _blocks(tmp_path, "\n\n```python\nx = 1\nraise ValueError('wrong doc')\n"
                              "```\n```bash\necho to-stdout; exit 3\n```\n")
    with pytest.raises(ValueError, match="wrong doc") as caught:
        docs.run_python(python, lambda name: None)
    # the traceback points at the markdown line of the failing statement
    assert caught.traceback[-1].lineno + 1 == 5
    with pytest.raises(AssertionError, match=r"page.md:7: exit 3 (.|\n)*to-stdout"):
        docs.run_shell(shell, env=docs.shell_env(), timeout=60)


def test_identical_examples_run_once_and_say_where_they_are(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    example = "```python\nprint(1)\n```\n"
    (tmp_path / "README.md").write_text(example)
    (tmp_path / "docs" / "a.md").write_text("text\n\n" + example)
    [block] = docs.runnable(docs.UNIT, tmp_path)
    assert [w.split("/")[-1] for w in block.where] == ["README.md:1", "a.md:3"]
