"""The `trafficpipe` command: a thin layer over the library. Each subcommand lives next to the code it drives."""
import importlib
import signal
import sys
import threading

from . import __version__
from .commands.dispatch import interrupted_exit_code, run_command
from .commands.expert import finish_parser
from .cli_values import LOG_LEVELS, OneLineParser, check_comma_lists, log_level
from .stop_signals import terminate_once

#: subcommand -> module exposing add_parser(subparsers) and run(args) -> exit code
SUBCOMMANDS = (
    ("detect", "trafficpipe.commands.detect"),
    ("score", "trafficpipe.scale.cli"),
    ("bench", "trafficpipe.bench.cli"),
    ("eval", "trafficpipe.eval.cli"),
    ("eval-track", "trafficpipe.tracking.eval_cli"),
    ("build-engine", "trafficpipe.engines.build_cli"),
    ("train", "trafficpipe.training.cli"),
    ("export", "trafficpipe.training.export_cli"),
    ("calibrate", "trafficpipe.training.calibrate_cli"),
)


def build_parser():
    parser = OneLineParser(prog="trafficpipe", description="Traffic-object detection pipeline.")
    parser.add_argument("--version", action="version", version="trafficpipe " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in SUBCOMMANDS:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            if e.name and module.startswith(e.name):
                continue  # subcommand not part of this build
            raise
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
        p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
        p.add_argument("--log-level", type=log_level, default="INFO", metavar="LEVEL",
                       help="log level: %s, any case (default INFO)" % ", ".join(LOG_LEVELS))
        check_comma_lists(p)  # an empty --classes or --save is an error, not the default
        finish_parser(p, name)
    return parser


def main(argv=None):
    # type: (list) -> int
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate_once)
    try:  # Ctrl-C or SIGTERM while the subcommands import: the exit code of an interrupted run, no traceback
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt as e:
        return interrupted_exit_code(e)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
