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
    setup_logging(args.log_level.upper(), args.debug)
    if not args.debug:  # FFmpeg's and OpenCV's own decoder chatter would bury the one-line errors
        quiet_native_logs()
    try:
        return int(args._run(args) or 0)
    except TrafficpipeError as e:
        if args.debug:
            sys.stderr.write(redact(traceback.format_exc()))  # a URL's password in a message or a frame never shows
        sys.stderr.write("trafficpipe: error: %s\n" % redact(str(e)))
        return e.exit_code
    except KeyboardInterrupt as e:
        if not getattr(args, "child_process", False):  # the parent of --processes says it once
            sys.stderr.write("trafficpipe: %s\n" % ("terminated" if isinstance(e, Terminated) else "interrupted"))
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:  # a bug or an unexpected library failure: one line unless --debug
        if args.debug:
            sys.stderr.write(redact(traceback.format_exc()))  # a URL's password in a message or a frame never shows
        else:
            logger.debug("unexpected error", exc_info=True)
        first = redact(str(e).strip().splitlines()[0]) if str(e).strip() else ""
        sys.stderr.write("trafficpipe: error: %s%s (run with --debug for the traceback)\n"
                         % (type(e).__name__, (": " + first) if first else ""))
        return 1
