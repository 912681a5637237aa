"""The ``npmk`` command: a thin dispatcher to each subcommand's own module.

Each module named in ``COMMANDS`` defines ``cli(argv: list[str]) -> int`` with
its own argparse parser, so a subcommand lives next to the code it drives.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "measure": ("npmk._measure", "Weibull (k, lambda) of a checkpoint's skeleton"),
    "sweep": ("npmk.sweep", "measure a grid of checkpoints on a Dask cluster into a Parquet dataset"),
    "train": ("npmk.runs", "train a small GPT-NeoX / LLaMA with force logging"),
    "book": ("npmk.book", "execute the notebooks with a profile and build the HTML book"),
    "run": ("npmk.book", "rerun one chapter with parameters"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: npmk COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'npmk COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"npmk: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.cli([name, *rest]) or 0)


if __name__ == "__main__":
    sys.exit(main())
