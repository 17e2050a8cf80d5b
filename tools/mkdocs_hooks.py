"""MkDocs hooks (mkdocs.yml): the site's pages that are made from elsewhere in the repository.

- README.md is the home page and WORKSPACE.md a page, read where they are, so
  that neither is copied into docs/; links are rewritten to the site's paths.
- The flag reference: one page per command, made at build time from the
  flags the command defines when it is imported (its name, default, type,
  allowed values and help, as `--help` shows them), so it cannot drift from
  the code. Nothing is written into docs/.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import pathlib
import re
import sys

from absl import flags
from mkdocs.structure.files import File

REPO = pathlib.Path(__file__).resolve().parent.parent
# Top-level files shown as pages of the site: the file, its page.
TOP_LEVEL = {"README.md": "index.md", "WORKSPACE.md": "workspace.md"}
# Every command a user runs: its page, how it is run, and the module that defines its flags (a dotted
# name, or a file under tools/). tests/test_docs.py holds this to tests/test_layout.py's list.
COMMANDS = [
    ("convert", "python -m techtonics.convert", "techtonics.convert"),
    ("train", "python -m techtonics.train", "techtonics.train"),
    ("evaluate", "python -m techtonics.evaluate", "techtonics.evaluate"),
    ("predict", "python -m techtonics.predict", "techtonics.predict"),
    ("pick_benchmark", "python -m techtonics.pick_benchmark", "techtonics.pick_benchmark"),
    ("demo", "python -m techtonics.demo", "techtonics.demo"),
    ("reproduce", "python -m techtonics.reproduce", "techtonics.reproduce"),
    ("synthetic", "python -m techtonics.synthetic", "techtonics.synthetic.__main__"),
    ("bench", "python -m techtonics.bench", "techtonics.bench.__main__"),
    ("data_service", "python -m techtonics.data_service", "techtonics.data_service"),
    ("launch_local_cluster", "python tools/launch_local_cluster.py", "tools/launch_local_cluster.py"),
]
REFERENCE = "reference"
NAV_TITLE = "Flag reference"
# Pages made once per process: a command's flags are defined once, at its import (`mkdocs serve` rebuilds).
_pages: dict[str, str] = {}


def _import(module: str):
    """Imports a command's module as `python -m` would, without running its main."""
    if not module.endswith(".py"):
        return importlib.import_module(module)
    name = pathlib.Path(module).stem
    spec = importlib.util.spec_from_file_location(name, REPO / module)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # absl credits a flag to the module it finds in sys.modules
    spec.loader.exec_module(loaded)
    return loaded


def _cell(text: str) -> str:
    """Text as one Markdown table cell: no HTML, no column break, no emphasis."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|").replace("*", "\\*")


def _default(flag: flags.Flag) -> str:
    value = flag.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return f"`{_cell(value)}`" if str(value) else '`""`'


def _kind(flag: flags.Flag) -> str:
    """The flag's type, and what values it takes, as absl's --help words it."""
    allowed = getattr(flag.parser, "enum_values", None)
    kind = (
        "one of " + ", ".join(f"`{_cell(v)}`" for v in allowed)
        if allowed
        else _cell(flag.parser.syntactic_help or flag.flag_type())
    )
    return kind + (" (repeatable)" if isinstance(flag, flags.MultiFlag) else "")


def _help(flag: flags.Flag) -> str:
    """The flag's help without what absl adds to it (an enum's values, a multi flag's note): the
    other columns say it."""
    text = re.sub(r"^<[^>]*>: ", "", flag.help)
    return _cell(re.sub(r";\s*repeat this option to specify a list of values$", "", text))


def _command_page(command: str, module_name: str) -> str:
    """One command's page: its usage (the module's docstring) and a row per flag it defines."""
    module = _import(module_name)
    defined = flags.FLAGS.get_flags_for_module(module.__name__)
    if not defined:
        raise RuntimeError(f"{module_name} defines no flags: is it still a command?")
    rows = [f"| `--{f.name}` | {_default(f)} | {_kind(f)} | {_help(f)} |" for f in defined]
    # The next command may define flags of the same names: they are its own.
    for f in defined:
        delattr(flags.FLAGS, f.name)
    return "\n".join(
        [
            f"# `{command}`",
            "",
            f"Generated from the command's flag declarations when the site is built; `{command} --help`",
            "prints the same.",
            "",
            "```text",
            (module.__doc__ or "").strip(),
            "```",
            "",
            "| flag | default | takes | what |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )


def _reference_pages() -> dict[str, str]:
    """The reference's pages by path: an index and one page per command."""
    if not _pages:
        index = [
            "# Flag reference",
            "",
            "Every command's flags, generated from their declarations in the code",
            "(`techtonics/core/options.py` and each command's module) when the site is built.",
            "Flagfiles (`--flagfile=configs/<job>.flags`) hold the same flags, one a line.",
            "",
            "| command | what it does |",
            "| --- | --- |",
        ]
        for page, command, module in COMMANDS:
            _pages[f"{REFERENCE}/{page}.md"] = _command_page(command, module)
            summary = (_import(module).__doc__ or "").strip().splitlines()[0]
            index.append(f"| [`{command}`]({page}.md) | {_cell(summary)} |")
        _pages[f"{REFERENCE}/index.md"] = "\n".join(index) + "\n"
    return _pages


def _links(markdown: str, page: str) -> str:
    """Links written for the repository's layout, rewritten to the site's."""
    if page in TOP_LEVEL.values():  # a top-level file: its links start at the repository's root
        targets = {"docs/": "", **TOP_LEVEL}
    else:  # a page of docs/
        targets = {f"../{name}": site for name, site in TOP_LEVEL.items()}
    for old, new in targets.items():
        markdown = re.sub(rf"\]\({re.escape(old)}", f"]({new}", markdown)
    return markdown


def on_config(config):
    """Lists the reference's pages under NAV_TITLE in the navigation."""
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and NAV_TITLE in entry:
            entry[NAV_TITLE] = [f"{REFERENCE}/index.md"] + [
                f"{REFERENCE}/{page}.md" for page, _, _ in COMMANDS
            ]
    return config


def on_files(files, config):
    """Adds README.md, WORKSPACE.md and the generated reference to the site's files."""
    for name, page in TOP_LEVEL.items():
        files.append(File.generated(config, page, abs_src_path=str(REPO / name)))
    for page, content in _reference_pages().items():
        files.append(File.generated(config, page, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    """Each page's links, before MkDocs checks them (--strict fails on a broken one)."""
    return _links(markdown, page.file.src_uri)
