"""Running a parsed command: its exit code, every error as one line on stderr (the traceback with --debug)."""
import argparse
import sys
import traceback

from ..errors import Terminated, TrafficpipeError
from ..log import logger, quiet_native_logs, setup_logging
from ..redact import redact


def run_command(args):
    # type: (argparse.Namespace) -> int
    """Run a parsed command: its exit code, with every error as one line on stderr (the traceback with --debug)."""
    try:
        setup_logging(args.log_level.upper(), args.debug)
        if not args.debug:  # FFmpeg's and OpenCV's own decoder chatter would bury the one-line errors
            quiet_native_logs()
        return int(args._run(args) or 0)
    except TrafficpipeError as e:
        if args.debug:
            sys.stderr.write(redact(traceback.format_exc()))  # a URL's password in a message or a frame never shows
        sys.stderr.write("trafficpipe: error: %s\n" % redact(worker_message(str(e))))
        return e.exit_code
    except KeyboardInterrupt as e:
        return interrupted_exit_code(e, say=not getattr(args, "child_process", False))  # --processes: the parent
    except Exception as e:  # a bug or an unexpected library failure: one line unless --debug
        if args.debug:
            sys.stderr.write(redact(traceback.format_exc()))  # a URL's password in a message or a frame never shows
        else:
            logger.debug("unexpected error", exc_info=True)
        text = worker_message(str(e)).strip()
        first = redact(text.splitlines()[0]) if text else ""
        sys.stderr.write("trafficpipe: error: %s%s (run with --debug for the traceback)\n"
                         % (type(e).__name__, (": " + first) if first else ""))
        return 1


def interrupted_exit_code(e, say=True):
    # type: (KeyboardInterrupt, bool) -> int
    """The exit code of a run stopped by Ctrl-C (130) or SIGTERM (143), said in one line on stderr (`say`), and kept
    as such: CPython (3.8-3.11) marks an interrupt that left an exec() of source text (SciPy's imports run some) as
    unhandled, even once caught, and may then end the process by SIGINT at exit instead of with this code; running
    source text again clears that mark."""
    if say:
        sys.stderr.write("trafficpipe: %s\n" % ("terminated" if isinstance(e, Terminated) else "interrupted"))
    exec("None")  # noqa: S102 - a constant: clears the mark
    return 143 if isinstance(e, Terminated) else 130


def worker_message(text):
    # type: (str) -> str
    """The error an exception from another process carries, for the one line: torch's DataLoader raises a worker's
    error again with "Caught X in DataLoader worker process N." and the worker's whole traceback as its message;
    that is the traceback's last error line ("cannot read image ..."). Other text as it is."""
    head, sep, trace = text.partition("\nOriginal Traceback (most recent call last):\n")
    if not sep or not head.startswith("Caught "):
        return text
    import re
    last = None
    for line in trace.splitlines():
        m = re.match(r"^([A-Za-z_][\w.]*): (.*)$", line)  # "package.module.Error: message", not indented
        if m and not line.startswith(("Traceback ", "During handling ", "The above exception ")):
            last = m.group(2)
    return last if last else head
