"""The documentation cannot drift from the code.

* ``docs/cli.md`` documents every subcommand, positional argument, long option and choice
  that :func:`ntkrs.cli.build_parser` defines (walking argparse's subparsers), plus the global
  options of ``ntkrs --help``; and everything it documents in an option table exists.
* Every public name of ntkrs (``ntkrs.__all__`` and the ``__all__`` of the public modules) has
  a docstring, and so does every public method and property of the public classes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import re
from pathlib import Path

import pytest

import ntkrs
from ntkrs import cli

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"

# --------------------------------------------------------------------------- CLI reference

_HEADING = re.compile(r"^(#{2,4})\s+`ntkrs ([a-z0-9_][a-z0-9_ -]*)`\s*$", re.M)
_LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Yield ``(command path, subparser)`` for every (nested) subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from _walk(sub, path + (name,))


def _commands() -> dict[str, argparse.ArgumentParser]:
    return {" ".join(path): sub for path, sub in _walk(cli.build_parser())}


def _sections() -> dict[str, str]:
    """``command -> text`` of its section in docs/cli.md (up to the next command heading)."""
    text = CLI_MD.read_text(encoding="utf-8")
    heads = list(_HEADING.finditer(text))
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out[m.group(2).strip()] = text[m.end():end]
    return out


def _global_options() -> set[str]:
    """Long options of the top-level parser as ``ntkrs --help`` shows them (``main`` adds
    ``--threads`` to what ``build_parser`` defines)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        cli.main(["--help"])
    head = buf.getvalue()
    return set(_LONG_OPTION.findall(head)) | {
        o for a in cli.build_parser()._actions for o in a.option_strings if o.startswith("--")
    }


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")} - {"--help"}


def test_cli_md_exists():
    assert CLI_MD.is_file(), "docs/cli.md is missing"


def test_every_subcommand_has_a_section():
    missing = sorted(set(_commands()) - set(_sections()))
    assert not missing, f"docs/cli.md has no section '## `ntkrs <command>`' for: {missing}"


def test_no_section_for_a_command_that_does_not_exist():
    stale = sorted(set(_sections()) - set(_commands()))
    assert not stale, f"docs/cli.md documents commands that build_parser() does not define: {stale}"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_positional_and_choice_is_documented(command: str):
    parser = _commands()[command]
    section = _sections().get(command)
    if section is None:
        pytest.fail(f"no section for `ntkrs {command}` in docs/cli.md")
    problems = []
    for opt in sorted(_long_options(parser)):
        if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", section):
            problems.append(f"option {opt}")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.option_strings:
            continue
        names = {action.dest, str(action.metavar or "")} - {""}
        if not any(n.lower() in section.lower() for n in names):
            problems.append(f"positional {action.dest}")
    for action in parser._actions:
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            for choice in action.choices:
                if f"`{choice}`" not in section:
                    problems.append(f"choice `{choice}` of {action.option_strings or action.dest}")
    assert not problems, f"docs/cli.md, section `ntkrs {command}`, does not document: {problems}"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_documented_options_exist(command: str):
    """Every option listed in an option table of a section is a real option."""
    section = _sections().get(command, "")
    real = _long_options(_commands()[command]) | _global_options()
    listed = set()
    for line in section.splitlines():
        if line.lstrip().startswith("| `-"):
            first_cell = line.split("|")[1]
            listed |= set(_LONG_OPTION.findall(first_cell))
    unknown = sorted(listed - real)
    assert not unknown, f"docs/cli.md lists options that `ntkrs {command}` does not have: {unknown}"


def test_global_options_are_documented():
    text = CLI_MD.read_text(encoding="utf-8")
    missing = sorted(o for o in _global_options() - {"--help"} if o not in text)
    assert not missing, f"docs/cli.md does not document the global options {missing}"


# --------------------------------------------------------------------------- docstrings

#: public modules whose ``__all__`` is checked besides ``ntkrs`` itself
PUBLIC_MODULES = ["ntkrs", "ntkrs.sklearn", "ntkrs.paper", "ntkrs.spectrum", "ntkrs.sphere", "ntkrs.data",
                  "ntkrs.network", "ntkrs.errors", "ntkrs.sweep", "ntkrs.sweep_spec", "ntkrs.sweep_store",
                  "ntkrs.reproduce", "ntkrs.report"]


def _own_doc(obj) -> str:
    doc = obj.__doc__ if (inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, property)) \
        else inspect.getdoc(obj)
    doc = (doc or "").strip()
    if inspect.isclass(obj) and "__doc__" not in obj.__dict__:
        return ""
    if inspect.isclass(obj) and doc.startswith(obj.__name__ + "("):  # dataclass' generated doc
        return ""
    return doc


def _public_objects():
    seen = set()
    for modname in PUBLIC_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:  # optional dependency missing (scikit-learn), or not in this build
            continue
        for name in getattr(mod, "__all__", []):
            if name.startswith("__"):
                continue
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or callable(obj)):
                continue  # constants
            key = id(obj)
            if key in seen:
                continue
            seen.add(key)
            yield f"{modname}.{name}", obj


def _members(cls):
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, value


@pytest.mark.parametrize("qualname, obj", list(_public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_name_has_docstring(qualname, obj):
    assert _own_doc(obj), f"{qualname} has no docstring"
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        missing = [name for name, member in _members(obj) if not (member.__doc__ or "").strip()]
        assert not missing, f"{qualname}: public members without a docstring: {missing}"


def test_version_and_public_api_present():
    assert isinstance(ntkrs.__version__, str) and ntkrs.__version__
    for name in ntkrs.__all__:
        assert hasattr(ntkrs, name), name


# --------------------------------------------------------------------------- code in the docs

DOCS_WITH_CODE = ["docs/user_guide.md", "docs/plugins.md", "docs/conventions.md"]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


@pytest.mark.parametrize("doc", DOCS_WITH_CODE)
def test_python_snippets_in_docs_run(doc: str):
    """The ```python blocks of a document, run in order in one fresh interpreter, succeed
    (blocks meant only for reading use ```text)."""
    import os
    import subprocess
    import sys

    path = ROOT / doc
    blocks = _python_blocks(path)
    if not blocks:
        pytest.skip(f"{doc} has no python blocks")
    if any("sklearn" in b for b in blocks):
        pytest.importorskip("sklearn")
    source = "\n\n".join(blocks)
    env = {**os.environ, "RAYON_NUM_THREADS": os.environ.get("RAYON_NUM_THREADS", "2"),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)
    assert proc.returncode == 0, f"the python code of {doc} failed:\n{proc.stderr[-3000:]}"
