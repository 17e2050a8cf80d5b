"""The documentation (issue 30): a README a newcomer reads in minutes, and a flag reference for every command.

`make test` builds the site itself (`make docs`, `mkdocs build --strict`), which fails on a broken link
or anchor; these tests hold what the build cannot see.
"""

import ast

from conftest import REPO
from test_layout import COMMANDS

# Commands that the benchmark runs in processes of its own, not users: no reference page.
_INTERNAL = {"techtonics/bench/measure.py"}


def _hook_commands() -> list[tuple[str, str, str]]:
    """tools/mkdocs_hooks.py's COMMANDS, read without importing MkDocs."""
    tree = ast.parse((REPO / "tools" / "mkdocs_hooks.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "COMMANDS":
            return ast.literal_eval(node.value)
    raise AssertionError("tools/mkdocs_hooks.py has no COMMANDS")


def test_the_readme_is_at_most_12_kb():
    assert (REPO / "README.md").stat().st_size <= 12 * 1024


def test_every_command_has_a_generated_flag_reference():
    documented = {module for _, _, module in _hook_commands()}
    expected = {
        path if path.startswith("tools/") else path.removesuffix(".py").replace("/", ".")
        for path in COMMANDS
        if path not in _INTERNAL
    }
    assert documented == expected
