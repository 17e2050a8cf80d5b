"""The package's shape (issue 19): every command is flags plus `main`; library modules define no flags."""

import ast
import re
import subprocess
import sys

import pytest
from conftest import REPO

# Every command, as the file that holds its flags and main. tests/test_errors.py checks each runs
# through the error contract.
COMMANDS = [
    "techtonics/train.py",
    "techtonics/convert.py",
    "techtonics/evaluate.py",
    "techtonics/predict.py",
    "techtonics/pick_benchmark.py",
    "techtonics/demo.py",
    "techtonics/reproduce.py",
    "techtonics/data_service.py",
    "techtonics/synthetic/__main__.py",
    "techtonics/bench/__main__.py",
    "techtonics/bench/measure.py",
    "tools/launch_local_cluster.py",
]
# options.define_flags turns a config's options into flags: the one library function that may define
# them, for the commands that call it.
FLAG_MAKER = "techtonics/core/options.py"
LIBRARY = sorted(
    str(p.relative_to(REPO))
    for p in REPO.glob("techtonics/**/*.py")
    if str(p.relative_to(REPO)) not in {*COMMANDS, FLAG_MAKER}
)

_DEFINES_FLAGS = re.compile(r"(^|\.)(DEFINE_\w+|mark_\w+|define_flags)$")
# What a command's top level may call besides imports, FLAGS = flags.FLAGS and main.
_FLAG_STATEMENT = re.compile(
    r"^(flags\.(DEFINE_\w+|mark_\w+|register_validator|register_multi_flags_validator)|options\.define_flags)$"
)


def _tree(path: str) -> ast.Module:
    return ast.parse((REPO / path).read_text(), path)


def _module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__main__").replace("/", ".")


@pytest.mark.parametrize("path", LIBRARY)
def test_a_library_module_defines_no_flags(path):
    tree = _tree(path)
    calls = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    defining = [call for call in calls if _DEFINES_FLAGS.search(call)]
    assert not defining, f"{path} calls {', '.join(defining)}: flags belong in a command module"
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert "define_flags" not in functions and "main" not in functions, f"{path} holds a command's code"
    main_blocks = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert not main_blocks, f"{path} runs as a program: make it a command module"


def _allowed(node: ast.stmt, first: bool) -> bool:
    """Whether one top-level statement of a command module is of the command's shape."""
    if first and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)  # the docstring
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return bool(_FLAG_STATEMENT.match(ast.unparse(node.value.func)))
    if isinstance(node, ast.Assign):
        return ast.unparse(node) == "FLAGS = flags.FLAGS"
    if isinstance(node, ast.FunctionDef):
        return node.name == "main"
    if isinstance(node, ast.If):
        body = [ast.unparse(statement) for statement in node.body]
        return (
            ast.unparse(node.test) == "__name__ == '__main__'"
            and len(body) == 1
            and (re.fullmatch(r"errors\.run\(main(, arguments=True)?\)", body[0]) is not None)
        )
    return False


@pytest.mark.parametrize("path", COMMANDS)
def test_a_command_module_is_flags_and_main(path):
    body = _tree(path).body
    other = [ast.unparse(node).split("\n")[0] for k, node in enumerate(body) if not _allowed(node, k == 0)]
    assert not other, f"{path}: a command holds only imports, flags and main; move to a library: {other}"
    assert [n.name for n in body if isinstance(n, ast.FunctionDef)] == ["main"], path


# --help imports every module a command needs: the check that its flags are defined once and parse.
# absl prints the help and exits 1. Two commands that do not load TensorFlow run in the fast suite.
_FAST = {"techtonics/synthetic/__main__.py", "techtonics/bench/measure.py"}


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=() if p in _FAST else pytest.mark.slow) for p in COMMANDS]
)
def test_every_command_prints_its_help(path):
    command = (
        [sys.executable, path] if path.startswith("tools/") else [sys.executable, "-m", _module_name(path)]
    )
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "Try --helpfull" in done.stdout and done.returncode == 1, path


TASK_MODULE = "techtonics/training/tasks.py"
TASK_NAMES = {"classification", "regression"}


@pytest.mark.parametrize(
    "path", [p for p in LIBRARY + COMMANDS if p != TASK_MODULE and p.startswith("techtonics")]
)
def test_only_the_task_module_compares_task_names(path):
    compared = [
        ast.unparse(node)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Compare)
        and any(isinstance(c, ast.Constant) and c.value in TASK_NAMES for c in [node.left, *node.comparators])
    ]
    assert not compared, f"{path} branches on the task ({compared}): ask the task object (training/tasks.py)"
