"""The command line's two levels: a short main `--help` of the options users need, and every tuning knob behind
`--set key=value` (listed by `--help-all`). A knob stays an ordinary argparse option underneath, so `--batch 4` and
`--set batch=4` mean the same; the main help just does not list it."""
import argparse
import difflib
import sys

from ..cli_values import parser_actions

#: the options each command's main --help lists (positionals always show); the rest are expert knobs
USER_OPTIONS = {
    "detect": ("--out", "--save", "--model", "--engine", "--conf", "--classes", "--tiles", "--max-frames", "--track",
               "--count", "--show"),
    "bench": ("--model", "--engine", "--frames", "--repeat", "--output", "--json", "--plot", "--streams"),
    "eval": ("--model", "--engine", "--out", "--tiles", "--conf", "--source", "--limit", "--no-plots"),
    "eval-track": ("--dets", "--out", "--tracker", "--max-frames", "--model", "--engine", "--conf", "--no-progress"),
    "score": ("--out", "--ray", "--model", "--engine", "--conf", "--classes", "--track", "--actors", "--no-progress"),
    "train": ("--base", "--val", "--epochs", "--imgsz", "--device", "--out", "--name", "--batch", "--time-budget",
              "--no-progress"),
}
ALWAYS = ("-h", "--help", "--help-all", "--set", "--debug")
#: examples of --set in the help, each shown where the command has it as a knob: the --set help names the first,
#: the --help-all footer the first value and the first switch
SET_EXAMPLES = ("batch=4", "trainable=head", "cuda-graphs=off")
FOOTER_VALUES = ("decode-processes=3", "batch=4", "trainable=head")
FOOTER_SWITCHES = ("cuda-graphs=off", "no-distill=on")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def finish_parser(parser, command):
    # type: (argparse.ArgumentParser, str) -> None
    """Give `parser` --set and --help-all and hide from its main --help every option not in USER_OPTIONS[command]
    (commands without an entry keep their help as it is, and take --help-all as --help)."""
    shown = USER_OPTIONS.get(command)
    if shown is None:  # every option is in the main --help: --help-all is the same help, as in the other commands
        parser.add_argument("--help-all", action="help", help="the same as --help: this command has no tuning knobs")
        return
    parser.main_options = shown  # what --set may not name: a main option is given as itself
    example = (examples(parser, SET_EXAMPLES) or ["KEY=VALUE"])[0]
    parser.add_argument("--set", action=SetAction, parser=parser, metavar="KEY=VALUE", default=argparse.SUPPRESS,
                        help="set a tuning knob (repeatable), e.g. --set %s; --help-all lists them" % example)
    parser.add_argument("--help-all", action=HelpAllAction, parser=parser, help="show every option, knobs included")
    for action in parser_actions(parser):
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        action.full_help = action.help
        if not any(o in shown or o in ALWAYS for o in action.option_strings):
            action.help = argparse.SUPPRESS


def knobs(parser):
    # type: (argparse.ArgumentParser) -> dict
    """dest -> the action that sets it, for every option --set may name (the value-taking one where several share a
    dest, such as --cuda-graphs / --no-cuda-graphs)."""
    out = {}
    for action in parser_actions(parser):
        if not action.option_strings or action.dest in ("help", "help_all", "set"):
            continue
        if action.dest not in out or out[action.dest].nargs == 0 and action.nargs != 0:
            out[action.dest] = action
    return out


def knob(parser, key):
    # type: (argparse.ArgumentParser, str) -> tuple
    """(action, invert) of `--set key=...`: the option whose destination is `key`, else the switch whose long name
    it is (--set no-distill=on is --no-distill: `invert` says off sets the switch's opposite); (None, False) for no
    option."""
    action = knobs(parser).get(key)
    if action is not None:
        return action, False
    name = "--" + key.replace("_", "-")
    for a in parser_actions(parser):
        if name in a.option_strings and a.nargs == 0 and isinstance(a.const, bool):
            return a, True
    return None, False


def examples(parser, candidates):
    # type: (argparse.ArgumentParser, tuple) -> list
    """Those of `candidates` ("key=value") that `parser` takes as --set: a knob it has that is not a main option."""
    out = []
    for text in candidates:
        action, _ = knob(parser, text.partition("=")[0].replace("-", "_"))
        if action is not None and not any(o in getattr(parser, "main_options", ()) for o in action.option_strings):
            out.append(text)
    return out


def convert(action, key, text):
    """The value of `--set key=text` for `action`, converted and checked as the option itself would be."""
    if action.nargs == 0:  # a switch: --set key=on/off
        low = text.strip().lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise argparse.ArgumentTypeError("--set %s takes on or off (got %r)" % (key, text))
    try:
        value = action.type(text) if action.type is not None else text
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError("--set %s: %s" % (key, e))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError("--set %s: invalid value %r" % (key, text))
    if action.choices is not None and value not in action.choices:
        raise argparse.ArgumentTypeError("--set %s: %r is not one of %s" % (key, text, ", ".join(map(str, action.choices))))
    return value


class SetAction(argparse.Action):
    """`--set key=value`: sets the option whose destination is `key` (dashes or underscores)."""

    def __init__(self, option_strings, dest, parser=None, **kwargs):
        self.owner = parser
        super(SetAction, self).__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        key, sep, text = values.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        table = knobs(self.owner)
        if not sep or not key:
            parser.error("--set takes KEY=VALUE, e.g. --set %s (got %r)"
                         % ((examples(self.owner, SET_EXAMPLES) or ["KEY=VALUE"])[0], values))
        action, invert = knob(self.owner, key)
        if action is None:
            near = difflib.get_close_matches(key, list(table), n=3)
            parser.error("--set: unknown key %r%s; --help-all lists them" % (key, (" (did you mean %s?)"
                                                                                   % " or ".join(near)) if near else ""))
        main = [o for o in action.option_strings if o in getattr(self.owner, "main_options", ())]
        if main:  # e.g. --set out=DIR would silently replace --out DIR
            parser.error("--set %s: %s is a main option, not a tuning knob; give it as %s" % (key, main[0], main[0]))
        try:
            value = convert(action, key, text)
        except argparse.ArgumentTypeError as e:
            parser.error(str(e))
        if invert:  # a switch by its long name: on = given, off = not given
            value = action.const if value else not action.const
        if isinstance(getattr(namespace, action.dest, None), list) and action.nargs != 0:  # a repeatable option
            setattr(namespace, action.dest, getattr(namespace, action.dest) + [value])
        else:
            setattr(namespace, action.dest, value)


class HelpAllAction(argparse.Action):
    """`--help-all`: the help with every option, the knobs included, then exit."""

    def __init__(self, option_strings, dest, parser=None, **kwargs):
        self.owner = parser
        super(HelpAllAction, self).__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        for action in parser_actions(self.owner):
            if hasattr(action, "full_help"):
                action.help = action.full_help
        self.owner.print_help(sys.stdout)
        shown = (examples(self.owner, FOOTER_VALUES)[:1] + examples(self.owner, FOOTER_SWITCHES)[:1])
        sys.stdout.write("\nEvery tuning knob above (an option the main --help does not list) can also be given as "
                         "--set KEY=VALUE, KEY being its long name without the dashes, a switch taking on or off%s.\n"
                         % (" (%s)" % ", ".join("--set " + e for e in shown) if shown else ""))
        parser.exit(0)
