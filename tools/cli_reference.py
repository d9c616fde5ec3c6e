"""Write docs/cli.md: every subcommand's options (main ones and tuning knobs), their defaults and help texts, taken
from the parser itself. `python tools/cli_reference.py` rewrites it; `--check` exits 1 when the file is stale."""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from trafficpipe.cli import SUBCOMMANDS, build_parser  # noqa: E402
from trafficpipe.cli_values import parser_actions  # noqa: E402
from trafficpipe.commands.expert import ALWAYS, USER_OPTIONS  # noqa: E402

OUT = os.path.join(ROOT, "docs", "cli.md")


def _subparsers(parser):
    for action in parser_actions(parser):
        if isinstance(action.choices, dict):  # the subcommands: name -> parser
            return action
    raise RuntimeError("no subcommands")


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _spelling(action):
    names = ", ".join("`%s`" % o for o in action.option_strings)
    if action.nargs == 0:
        return names
    if action.choices:
        return "%s {%s}" % (names, ",".join(str(c) for c in action.choices))
    metavar = action.metavar or action.dest.upper()
    return "%s %s" % (names, metavar)


def _help(action, prog):
    text = getattr(action, "full_help", action.help) or ""
    if "%" in text:
        params = dict(vars(action), prog=prog)
        if params.get("choices") is not None:
            params["choices"] = ", ".join(str(c) for c in params["choices"])
        try:
            text = text % params
        except (KeyError, TypeError, ValueError):
            pass
    return text


def command_section(name, parser):
    # type: (str, argparse.ArgumentParser) -> list
    """The markdown lines of one subcommand: usage line, positionals, then its options with a 'main' mark."""
    shown = USER_OPTIONS.get(name)
    lines = ["## `trafficpipe %s`" % name, "", _cell(parser.description or ""), ""]
    positionals = [a for a in parser_actions(parser) if not a.option_strings]
    if positionals:
        lines += ["| argument | what |", "|---|---|"]
        lines += ["| `%s` | %s |" % (a.metavar or a.dest, _cell(_help(a, parser.prog))) for a in positionals]
        lines.append("")
    lines += ["| option | main `--help` | what |", "|---|---|---|"]
    for a in parser_actions(parser):
        if not a.option_strings or a.dest in ("help", "help_all"):
            continue
        main = shown is None or any(o in shown or o in ALWAYS for o in a.option_strings)
        lines.append("| %s | %s | %s |" % (_cell(_spelling(a)), "yes" if main else "",
                                             _cell(_help(a, parser.prog))))
    return lines + [""]


def render():
    # type: () -> str
    parser = build_parser()
    subs = _subparsers(parser)
    lines = ["# Command-line reference", "",
             "Every option of every `trafficpipe` command, generated from the parser by `python tools/cli_reference.py`"
             " (a test keeps it current). Options not on a command's main `--help` are tuning knobs: give them as"
             " `--OPTION VALUE` or `--set KEY=VALUE` (KEY = the option's name with `_` for `-`); `--help-all` lists"
             " them too. A main option is given as itself: `--set out=DIR` is refused, so it never silently replaces"
             " `--out`.", "",
             "Environment: `TRAFFICPIPE_DATA` (shared models and data, default `../shared`), `TRAFFICPIPE_MODELS`"
             " (a folder searched for model files first), `TRAFFICPIPE_CACHE` (cleaned ONNX graphs and TensorRT"
             " plans, default `~/.cache/trafficpipe`), `TRAFFICPIPE_PROGRESS=1` (progress bars also when stderr is"
             " no terminal).", ""]
    for name, _module in SUBCOMMANDS:
        if name in subs.choices:
            lines += command_section(name, subs.choices[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/cli.md differs from what would be written")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        with open(OUT) as f:
            current = f.read()
        if current != text:
            sys.stderr.write("docs/cli.md is stale: run python tools/cli_reference.py\n")
            return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s" % OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
