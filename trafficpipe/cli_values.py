"""Checked option values: argparse `type=` converters (str -> value, argparse.ArgumentTypeError with one clear line),
so that a bad value ends at parse time with one line and exit 2 instead of being replaced or ignored. Plain functions,
usable wherever text becomes a setting."""
import argparse
import math
import os

#: the most frames one inference call may take (a larger batch only fills memory)
MAX_BATCH = 256


def _number(text, kind):
    try:
        value = kind(str(text).strip())
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError("expected %s, got %r" % ("a whole number" if kind is int else "a number", text))
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError("expected a finite number, got %r" % text)
    return value


def int_at_least(low):
    """A converter of whole numbers of `low` or more (e.g. -1 for 'auto')."""
    def convert(text):
        n = _number(text, int)
        if n < low:
            raise argparse.ArgumentTypeError("must be %d or more, got %s" % (low, text))
        return n
    convert.__name__ = "int_at_least_%d" % low
    return convert


def positive_int(text):
    # type: (str) -> int
    """A whole number of 1 or more."""
    return int_at_least(1)(text)


def nonneg_int(text):
    # type: (str) -> int
    """A whole number of 0 or more."""
    return int_at_least(0)(text)


def thread_count(text):
    # type: (str) -> int
    """ONNX Runtime threads: 0 (all cores) up to four per core of this machine (more only queue for the cores)."""
    n = nonneg_int(text)
    cap = 4 * (os.cpu_count() or 1)
    if n > cap:
        raise argparse.ArgumentTypeError("at most %d threads (4 per core of this machine's %d), got %s"
                                         % (cap, cap // 4, text))
    return n


def batch_size(text):
    # type: (str) -> int
    """Frames per inference call: 1 to MAX_BATCH."""
    n = positive_int(text)
    if n > MAX_BATCH:
        raise argparse.ArgumentTypeError("at most %d frames per inference call, got %s" % (MAX_BATCH, text))
    return n


def unit_interval(text):
    # type: (str) -> float
    """A number from 0 to 1 (a score or IoU threshold); nan and inf rejected."""
    x = _number(text, float)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1, got %s" % text)
    return x


def fraction_below_one(text):
    # type: (str) -> float
    """A number from 0 up to (not including) 1 (an overlap)."""
    x = _number(text, float)
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError("must be 0 or more and less than 1, got %s" % text)
    return x


def nonneg_float(text):
    # type: (str) -> float
    """A finite number of 0 or more (seconds)."""
    x = _number(text, float)
    if x < 0:
        raise argparse.ArgumentTypeError("must be 0 or more, got %s" % text)
    return x


def positive_float(text):
    # type: (str) -> float
    """A finite number greater than 0."""
    x = _number(text, float)
    if x <= 0:
        raise argparse.ArgumentTypeError("must be more than 0, got %s" % text)
    return x


def positive_float_at_most(high):
    """A converter of finite numbers greater than 0 and at most `high` (nan and inf rejected)."""
    def convert(text):
        x = positive_float(text)
        if x > high:
            raise argparse.ArgumentTypeError("must be at most %g, got %s" % (high, text))
        return x
    convert.__name__ = "positive_float_at_most_%g" % high
    return convert


def float_above(low):
    """A converter of finite numbers greater than `low`."""
    def convert(text):
        x = _number(text, float)
        if x <= low:
            raise argparse.ArgumentTypeError("must be more than %g, got %s" % (low, text))
        return x
    convert.__name__ = "float_above_%g" % low
    return convert


def file_name(text):
    # type: (str) -> str
    """A plain file name (a model's --name): not empty, not . or .., no folder in it (no / or \\), so what is
    written under it stays in the output folder."""
    name = str(text)
    if not name.strip() or name.strip() in (".", "..") or any(c in name for c in ("/", "\\", "\0")):
        raise argparse.ArgumentTypeError("expected a plain file name (no folders, not . or ..), got %r" % text)
    return name


#: loguru's levels, least severe first (--log-level)
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def log_level(text):
    # type: (str) -> str
    """A log level, any case (info, WARNING): its upper-case name."""
    level = str(text).strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError("expected one of %s (any case), got %r" % (", ".join(LOG_LEVELS), text))
    return level


def non_empty(text):
    # type: (str) -> str
    """Text with something in it (a folder, an address): "" is an error instead of meaning the current folder or
    nothing."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty one")
    return text


def comma_list(text):
    # type: (str) -> str
    """A comma-separated list of one entry or more (--classes, --save): the text as given, so the option reads as
    before; an empty list ("", ",", " , ") is an error instead of meaning the default, and so is an empty entry
    ("vehicle,,pedestrian", "vehicle,"), which is most often a typo."""
    parts = [part.strip() for part in str(text).split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("expected a comma-separated list of one entry or more, got %r" % text)
    if not all(parts):
        raise argparse.ArgumentTypeError("the list %r has an empty entry (two commas, or one at an end)" % text)
    return text


#: options that take a comma-separated list in any command: `comma_list` checks them (cli.build_parser)
COMMA_LISTS = ("--classes", "--save", "--keep-base", "--boost", "--copy-paste")


def parser_actions(parser):
    # type: (argparse.ArgumentParser) -> list
    """Every action (option and positional) of `parser`, in the order they were added. argparse keeps no public list
    of them; this is the one place that reads its own."""
    return list(parser._actions)


def check_comma_lists(parser):
    # type: (argparse.ArgumentParser) -> None
    """Give every COMMA_LISTS option of `parser` that has no converter of its own the `comma_list` check."""
    for action in parser_actions(parser):
        if action.type is None and action.nargs is None and any(o in COMMA_LISTS for o in action.option_strings):
            action.type = comma_list


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (`prog: error: ...`, then exit 2), without the usage
    block: `--help` shows that."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))
