"""`--count` specs: lines `[name=]x1,y1,x2,y2` and zones `zone:[name=]x1,y1,x2,y2,x3,y3[,...]`, in pixels."""
import math

from ..errors import TrafficpipeError


class CountSpecError(TrafficpipeError):
    """A malformed `--count` spec, or a line or zone outside the frame."""


class Line(object):
    """A counting line from `p1` to `p2`. `in`: crossing from the left-hand side to the right-hand side as seen
    walking from p1 to p2 in the image (a line drawn left to right counts downward motion as `in`)."""

    kind = "line"

    def __init__(self, name, p1, p2):
        self.name = name
        self.p1 = p1
        self.p2 = p2

    @property
    def points(self):
        return [self.p1, self.p2]


class Zone(object):
    """A polygon (3 or more points): per-class occupancy per frame and dwell time per track."""

    kind = "zone"

    def __init__(self, name, points):
        self.name = name
        self.points = points


def parse_count_spec(spec, index=0):
    # type: (str, int) -> object
    """One `--count` value -> Line or Zone; CountSpecError (one line) when malformed."""
    text = spec.strip()
    kind = "line"
    if text.startswith("zone:"):
        kind, text = "zone", text[5:]
    elif text.startswith("line:"):
        text = text[5:]
    name, sep, coords = text.partition("=")
    if not sep:
        name, coords = "", text
    given = bool(name.strip())
    name = name.strip() or ("%s%d" % (kind, index + 1))
    if any(ch in name for ch in ",:= "):
        raise CountSpecError("--count %r: the name %r may not hold ',', ':', '=' or spaces" % (spec, name))
    try:
        vals = [float(v) for v in coords.split(",")]
    except ValueError:
        raise CountSpecError("--count %r: coordinates must be numbers, e.g. in=100,400,1200,400 (a line x1,y1,x2,y2) "
                             "or zone:lot=10,10,200,10,200,150 (a polygon)" % spec)
    if not all(math.isfinite(v) for v in vals):
        raise CountSpecError("--count %r: coordinates must be finite numbers (pixels), not nan or inf" % spec)
    if len(vals) % 2:
        raise CountSpecError("--count %r: an odd number of coordinates (x,y pairs expected)" % spec)
    pts = [(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]
    if kind == "line":
        if len(pts) != 2:
            raise CountSpecError("--count %r: a line takes 4 numbers x1,y1,x2,y2 (got %d); a polygon is "
                                 "zone:NAME=x1,y1,x2,y2,x3,y3,..." % (spec, len(vals)))
        if pts[0] == pts[1]:
            raise CountSpecError("--count %r: the line's two points are the same" % spec)
        region = Line(name, pts[0], pts[1])
        region.given = given
        return region
    if len(pts) < 3:
        raise CountSpecError("--count %r: a zone needs at least 3 points (got %d)" % (spec, len(pts)))
    area = 0.5 * abs(sum(pts[i][0] * pts[i - 1][1] - pts[i - 1][0] * pts[i][1] for i in range(len(pts))))
    if area <= 0:
        raise CountSpecError("--count %r: the zone has no area (its points lie on one line, or its edges cross and "
                             "its parts cancel out: give the corners in order around it)" % spec)
    region = Zone(name, pts)
    region.given = given
    return region


def parse_count_specs(specs):
    # type: (list) -> list
    """Every `--count` value, parsed; names must be unique."""
    regions = [parse_count_spec(s, i) for i, s in enumerate(specs or [])]
    taken = set()
    for r in regions:
        if r.given:
            if r.name in taken:
                raise CountSpecError("--count: the name %r is used twice" % r.name)
            taken.add(r.name)
        if all(0 <= v <= 1 for pt in r.points for v in pt):
            from ..log import logger
            logger.warning("--count {}: every coordinate is within 0..1; coordinates are pixels, so this is a "
                           "{} in the frame's top-left pixel", r.name, r.kind)
    for i, r in enumerate(regions):  # an unnamed one is line<N> or zone<N> (N: its place), never a name given
        k = i + 1
        while not r.given and r.name in taken:
            k += 1
            r.name = "%s%d" % (r.kind, k)
        taken.add(r.name)
    return regions


def check_in_frame(regions, width, height, source_name):
    """CountSpecError (one line) when a line or zone has a point outside a `width` x `height` frame."""
    if not width or not height:
        return
    for r in regions:
        for x, y in r.points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise CountSpecError("--count %s: point (%g, %g) is outside %s's %dx%d frame"
                                     % (r.name, x, y, source_name, width, height))
