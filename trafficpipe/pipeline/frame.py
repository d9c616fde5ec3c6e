"""The frame record that travels through every stage, and the end-of-stream marker."""


class Frame(object):
    """One captured image and everything the stages add to it.

    `index` is the capture index (gaps where a live source dropped frames); `seq` is the gapless per-source order
    assigned when the frame enters preprocessing, which the writer restores. `t` holds per-stage timestamps
    (time.perf_counter) keyed by stage name: (start, end).
    """

    __slots__ = ("source_id", "index", "seq", "t_capture", "pts", "image", "meta", "slot", "slot_pos", "outputs",
                 "detections", "t", "path", "holder", "tiles", "model_input", "input_pinned", "extra")

    def __init__(self, source_id, index, t_capture, image, pts=None):
        self.source_id = source_id
        self.index = index
        self.seq = -1
        self.t_capture = t_capture
        self.pts = pts  # seconds from the start of the source (file time or wall time)
        self.image = image
        self.meta = None
        self.slot = None
        self.slot_pos = -1
        self.outputs = None  # raw outputs kept only when the pipeline is asked to (keep_outputs)
        self.detections = None
        self.t = {}
        self.path = None  # the image file, for image-set sources
        self.holder = None  # what the frame holds goes back there (`release`): a FramePool, a decoder's ring slot
        self.model_input = None  # the model's input, already prepared by the source (meta set with it), else None
        self.input_pinned = False  # `model_input` lies in page-locked memory: a GPU engine copies it from there
        self.tiles = None  # with tiled inference: the crops (x0, y0, x1, y1) at slot_pos, slot_pos + 1, ...; meta a list
        self.extra = None  # what in-order steps add for the JSON line (e.g. {"counts": ...}), else None

    def release(self):
        """Give back what the frame holds (its image buffer or ring slot): no stage reads its image after this."""
        holder, self.holder = self.holder, None
        if holder is not None:
            holder.put(self.image)
        self.image = None

    def input_read(self):
        """The prepared model input has been read (copied, or its batch has run): a frame that holds nothing else
        (an input-only ring slot) is released."""
        if self.model_input is not None:
            self.model_input = None
            if self.image is None:
                self.release()

    def __repr__(self):
        return "Frame(source=%d, index=%d, seq=%d)" % (self.source_id, self.index, self.seq)


class EndOfStream(object):
    """Sent by a source after its last frame. `count` (the number of frames sent on) is filled in by preprocess."""

    __slots__ = ("source_id", "count", "error")

    def __init__(self, source_id, error=None):
        self.source_id = source_id
        self.count = -1
        self.error = error

    def __repr__(self):
        return "EndOfStream(source=%d, count=%d)" % (self.source_id, self.count)
