"""Frames of a file lost to damage within what a run read (`--max-frames` included): counted per source, so that the
summary line names them and the exit status says "partial" (3) whenever one was lost."""
import os


def lost_ranges(source, gaps, limit=None):
    # type: (object, dict, int) -> list
    """Merged [first, stop) stretches of `source`'s frames that did not decode, from the source's own `skipped`
    stretches and its feed's `gaps` (first -> stop), cut to the first `limit` frames (None: all)."""
    spans = [tuple(r) for r in getattr(source, "skipped", None) or () if isinstance(r, tuple)] + list(gaps.items())
    merged = []
    for a, b in sorted(spans):
        b = b if limit is None else min(b, limit)
        if b <= a:
            continue
        if merged and merged[-1][1] >= a:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def note_lost_frames(entry, source, gaps, limit=None):
    """Set a source's summary `entry` (describe() + frames_in) from the stretches lost within the run's range: the
    count in `unreadable`, `truncated` and an `error` naming them (kept where the source failed for another reason).
    Image sets count their unreadable images themselves."""
    ranges = lost_ranges(source, gaps, limit)
    if not ranges:
        return
    lost = sum(b - a for a, b in ranges)
    entry["unreadable"] = lost
    if entry.get("error") is None or getattr(source, "truncated", False):
        entry["error"] = "%d of %d frames decoded; unreadable: %s (%s)" % (
            entry["frames_in"], entry["frames_in"] + lost, ", ".join("frames %d-%d" % (a, b - 1) for a, b in ranges),
            os.path.basename(str(source.uri)))
    entry["truncated"] = True
