"""The progress bar of a detect run."""
import os
import sys


def progress_bar(total, disabled):
    """A tqdm bar of frames on stderr (None when disabled, or when stderr is no terminal unless TRAFFICPIPE_PROGRESS=1)."""
    if disabled or not sys.stderr.isatty() and os.environ.get("TRAFFICPIPE_PROGRESS") != "1":
        return None
    from tqdm import tqdm
    return tqdm(total=total or None, unit="frame", dynamic_ncols=True, mininterval=0.5)
