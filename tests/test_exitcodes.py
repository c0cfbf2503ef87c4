"""One exit-code table for the whole CLI (issue 14 item 7): defined once in
edgepilot/exitcodes.py, printed by every --help (edgepilot's own commands
and every gcs command), and shown in README.md."""
from __future__ import annotations

import argparse

from edgepilot import exitcodes
from tests.conftest import REPO, run_edgepilot


def _walk(p: argparse.ArgumentParser, path):
    yield path, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _walk(sub, path + [name])


def test_every_help_ends_with_the_one_table():
    from edgepilot.cli import build_parser
    from edgepilot.gcs.cli import build_parser as gcs_parser

    seen = 0
    for root, prefix in ((build_parser(), []), (gcs_parser(), ["gcs"])):
        for path, p in _walk(root, prefix):
            if p.add_help is False:     # edgepilot's `gcs` placeholder: `gcs --help` is gcs_parser's
                continue
            assert exitcodes.TABLE in p.format_help(), f"`edgepilot {' '.join(path)} --help` lacks the exit codes"
            seen += 1
    assert seen >= 30


def test_codes_are_distinct_and_in_the_readme():
    codes = [c for c, _ in exitcodes.CODES]
    assert len(set(codes)) == len(codes) == 6
    assert (exitcodes.OK, exitcodes.FAILED, exitcodes.USAGE) == (0, 1, 2)
    readme = (REPO / "README.md").read_text()
    for code, _ in exitcodes.CODES:
        assert f"| `{code}` |" in readme


def test_bad_usage_is_2_everywhere():
    for args in (("sitl", "run", "--seed", "x"), ("gcs", "mode"), ("gcs", "--timeout", "-1", "status"),
                 ("vehicle", "run")):
        r = run_edgepilot(*args, timeout=60)
        assert r.returncode == exitcodes.USAGE, (args, r.stderr)
