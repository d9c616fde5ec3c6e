"""`--plot`: per-stage latency distributions and a short timeline of frames through the pipeline (matplotlib)."""
import os

from ..errors import TrafficpipeError
from .report import STAGES

#: the file types --plot writes (matplotlib picks the format from the extension; fewer where its build lacks one)
FORMATS = ("png", "svg", "svgz", "pdf", "jpg", "jpeg", "tif", "tiff", "webp", "gif", "eps", "ps")
#: the extension a --plot file without one gets (as matplotlib's own default)
DEFAULT_FORMAT = "png"

COLORS = {"capture": "#4c72b0", "preprocess": "#55a868", "infer": "#c44e52", "postprocess": "#8172b2",
          "draw": "#ccb974", "write": "#64b5cd", "encode": "#64b5cd", "track": "#dd8452"}


def formats():
    # type: () -> tuple
    """The extensions --plot can write: FORMATS, less those this matplotlib cannot write (all when not installed)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        known = FigureCanvasAgg(Figure()).get_supported_filetypes()
    except Exception:  # not installed (checked on its own) or an odd build: the extension check stays static
        return FORMATS
    return tuple(f for f in FORMATS if f in known)


def plot_file(path):
    # type: (str) -> str
    """The file `--plot path` writes: `path` itself, or `path`.png where it has no extension. TrafficpipeError (one
    line) where its extension is not an image type matplotlib writes, before anything is measured."""
    ext = os.path.splitext(os.path.basename(path))[1]
    if not ext:
        return path + "." + DEFAULT_FORMAT
    kind = ext[1:].lower()
    usable = formats()
    if kind not in usable:
        raise TrafficpipeError("--plot %s: %s; give a file ending in %s"
                               % (path, "cannot write a .%s plot" % kind if kind else "no file type after the '.'",
                                  ", ".join("." + f for f in usable)))
    return path


def plot_report(report, raw, path):
    # type: (dict, dict, str) -> str
    """Write the plot to `path` (a file `plot_file` accepts; its extension gives the format): latency distributions
    (ceiling, seed loop, pipeline) per stage, and a frame timeline. Returns `path`."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TrafficpipeError("--plot needs matplotlib: pip install matplotlib")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 8.5), gridspec_kw={"height_ratios": [1, 1]})
    _latencies(ax1, raw)
    _timeline(ax2, raw.get("timeline", []))
    med = report["median"]
    det = report["detector"]
    fig.suptitle("%s, %s on %s %s: pipeline %.1f fps, seed loop %.1f fps, bound %.1f fps"
                 % (report["config"]["source_name"], det.get("model"), det.get("engine"), det.get("precision"),
                    med["pipeline"]["fps"], med["seed"]["fps"], med["bound"]["fps"]), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    try:
        fig.savefig(path, dpi=110)
    except (IOError, OSError) as e:
        raise TrafficpipeError("cannot write %s: %s" % (path, e))
    finally:
        plt.close(fig)
    return path


def _latencies(ax, raw):
    groups = (("ceiling", raw.get("ceilings", {})), ("seed", raw.get("seed", {})),
              ("pipeline", raw.get("pipeline", {})))
    data, labels, colors = [], [], []
    names = ("capture", "preprocess", "infer", "postprocess", "draw", "write")
    for name in names:
        for kind, d in groups:
            vals = d.get(name)
            if vals:
                data.append(vals)
                labels.append("%s\n%s" % (name, kind))
                colors.append(COLORS.get(name, "gray"))
    if not data:
        ax.set_axis_off()
        return
    parts = ax.boxplot(data, whis=(1, 99), showfliers=False, patch_artist=True)
    for box, c in zip(parts["boxes"], colors):
        box.set_facecolor(c)
        box.set_alpha(0.6)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms per work item (box: p25-p75, whiskers: p1-p99)")
    ax.set_title("per-stage latency: each stage alone, in the seed loop, in the pipeline", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)


def _timeline(ax, timeline):
    if not timeline:
        ax.set_axis_off()
        return
    for row, fr in enumerate(timeline):
        spans = [v for v in fr["stages"].values()]
        if spans:  # the whole way from capture to write: the gaps between the bars are time spent in queues
            ax.plot([min(a for a, _ in spans), max(b for _, b in spans)], [row, row], color="0.6", lw=0.8,
                    label="queued" if row == 0 else None, zorder=1)
        for name in STAGES:
            span = fr["stages"].get(name)
            if span:
                ax.barh(row, max(span[1] - span[0], 0.05), left=span[0], height=0.7, color=COLORS[name],
                        label=name if row == 0 else None, zorder=2)
    ax.set_yticks(range(len(timeline)))
    ax.set_yticklabels(["frame %d" % fr["frame"] for fr in timeline], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_title("pipeline timeline of %d consecutive frames (infer spans submit to collect; grey: waiting in queues)"
                 % len(timeline), fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=7, ncol=6, frameon=False)
    ax.grid(True, axis="x", alpha=0.3)
