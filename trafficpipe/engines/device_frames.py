"""Frames that live on the GPU (decoded by NVDEC, `sources/nvdec.py`) and how they reach an engine's input.

A device frame is a torch CUDA tensor [H, W, 3] uint8 in RGB order. It never visits the host on its way to inference:
`fill_input` notes it in `slot.device_items`, and the engine, when it launches the slot, resizes and pads all of them at
once on the GPU straight into the slot's device input buffer (on the slot's stream, so the compute follows without a
host sync) and copies only the other items host -> device. The layout written is exactly the host path's
(`adapter.preprocess_u8`: BGR uint8 at the model's size, image at the top-left, the rest padded), so the engine and its
captured graphs are the same for both. Bilinear resizing as OpenCV's INTER_LINEAR (half-pixel centres, no
antialiasing; it differs by rounding only).

Only `host_image` brings a device frame to the host, for sinks that draw on it (annotated video or images).
torch is imported lazily: the module imports on any machine.
"""
import numpy as np

_state = {}  # "torch" -> the torch module, once a device frame was seen


def is_device_image(image):
    # type: (object) -> bool
    """True for a frame held on the GPU (anything but a numpy image)."""
    return image is not None and not isinstance(image, np.ndarray)


def _torch():
    torch = _state.get("torch")
    if torch is None:
        import torch
        _state["torch"] = torch
    return torch


def resize_pad(image, out, nw, nh, pad, bgr=True):
    """Resize `image` ([H, W, 3] uint8 tensor) to `nh` x `nw` into the top-left of `out` ([h, w, 3], uint8 or float
    holding 0..255) and fill the rest with `pad`, reversing the channels when `bgr`. Enqueued on the current stream."""
    resize_pad_batch(image.unsqueeze(0), out.unsqueeze(0), nw, nh, pad, bgr)


def slot_device_input(slot, name):
    """(torch tensor over the slot's device input `name`, the slot's stream as a torch stream), made once per slot."""
    torch = _torch()
    st = slot.native
    got = st.extra.get("device_frames")
    if got is None:
        x = torch.as_tensor(st.inputs[name].device_view(), device="cuda:%d" % slot.context.runtime.index)
        stream = st.extra.get("stream") or torch.cuda.ExternalStream(st.stream.handle, device=x.device)
        got = st.extra["device_frames"] = (x, stream)
    return got


def fill_input(adapter, slot, pos, image):
    """Put one frame into batch item `pos` of `slot`'s input and return the adapter's meta: a host image through
    `adapter.preprocess` (into the pinned buffer); a device frame is only noted in `slot.device_items` (pos ->
    (image, input name, fit)): the engine resizes all of a slot's device frames at once when it launches the slot
    (`resize_device_items`), because each torch call gives the GIL up and must win it back from the other stages."""
    if isinstance(image, np.ndarray):
        return adapter.preprocess(image, slot.host_inputs[adapter.input.name][pos])
    if getattr(slot.native, "extra", None) is None:
        raise TypeError("GPU-decoded frames need a GPU engine (torch or tensorrt), not %s"
                        % type(slot.context.engine).__name__)
    nw, nh, pad, meta = adapter.fit_u8(int(image.shape[1]), int(image.shape[0]))
    slot.device_items[pos] = (image, adapter.input.name, (nw, nh, pad))
    return meta


def resize_device_items(slot):
    """Enqueue, on the slot's stream, the resize of every device frame noted in `slot.device_items` into the slot's
    device input (called by the GPU engines' launch, before the compute).

    The usual case, items 0..n-1 all whole frames of one size: each frame is copied into the slot's staging buffer (one
    driver call each) and one CUDA graph, captured per (n, size, fit) on first use, does the batch's resize; else one
    eager batched resize per run of consecutive items of the same size and fit (tiles, which are views)."""
    torch = _torch()
    items = sorted(slot.device_items.items(), key=lambda kv: kv[0])
    name = items[0][1][1]
    x, stream = slot_device_input(slot, name)
    n = len(items)
    first = items[0][1]
    key = (n, tuple(first[0].shape), first[2])
    if items[-1][0] == n - 1 and all((tuple(v[0].shape), v[2]) == key[1:] and v[0].is_contiguous()
                                     for _, v in items):
        graph = _resize_graph(slot, x, key)
        if graph is not None:
            staging, g = graph
            cuda = _driver()
            size = staging[0].numel()
            base = staging.data_ptr()
            handle = slot.native.stream
            for i, (_, v) in enumerate(items):
                cuda.memcpy_dtod_async(base + i * size, v[0].data_ptr(), size, handle)
            with torch.cuda.stream(stream):
                g.replay()
            return
    groups = []
    for pos, (image, _, fit) in items:
        g = groups[-1] if groups else None
        if g is not None and g[0] + len(g[2]) == pos and g[1] == (tuple(image.shape), fit):
            g[2].append(image)
        else:
            groups.append((pos, (tuple(image.shape), fit), [image]))
    with torch.cuda.stream(stream):
        for pos, (_, (nw, nh, pad)), images in groups:
            batch = images[0].unsqueeze(0) if len(images) == 1 else torch.stack(images)
            resize_pad_batch(batch, x[pos:pos + len(images)], nw, nh, pad)


def _driver():
    from .cuda_driver import cuda_driver
    return cuda_driver()


def _resize_graph(slot, x, key):
    """(staging [B, H, W, 3], CUDA graph of the resize of staging[:n] into x[:n]) for `key` = (n, frame shape, fit),
    captured once per slot; None where capture fails (the caller then resizes eagerly)."""
    torch = _torch()
    extra = slot.native.extra
    graphs = extra.setdefault("resize_graphs", {})
    if key in graphs:
        return graphs[key]
    n, shape, (nw, nh, pad) = key
    got = None
    try:
        staging = extra.get("resize_staging")
        if staging is None or tuple(staging.shape[1:]) != shape:
            staging = extra["resize_staging"] = torch.zeros((slot.context.batch,) + shape, dtype=torch.uint8,
                                                            device=x.device)
            for k in [k for k in graphs if k[1] != shape]:  # graphs over the old staging buffer
                old = graphs.pop(k)
                if old is not None:
                    old[1].reset()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            resize_pad_batch(staging[:n], x[:n], nw, nh, pad)  # warm-up: kernels chosen, memory reserved
            side.synchronize()
            g = torch.cuda.CUDAGraph()
            g.capture_begin(capture_error_mode="thread_local")
            try:
                resize_pad_batch(staging[:n], x[:n], nw, nh, pad)
            finally:
                g.capture_end()
        side.synchronize()
        got = (staging, g)
    except Exception as e:  # noqa: BLE001 - eager resizing still works
        from ..log import logger
        logger.debug("device frames: resize graph capture failed ({}); resizing eagerly", e)
    graphs[key] = got
    return got


def resize_pad_batch(images, out, nw, nh, pad, bgr=True):
    """`resize_pad` of a batch: [N, H, W, 3] uint8 -> the top-left of out [N, h, w, 3], padded."""
    torch = _torch()
    F = torch.nn.functional
    x = images.permute(0, 3, 1, 2).float()
    if bgr:
        x = x.flip(1)
    if (x.shape[2], x.shape[3]) != (nh, nw):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    x = x.permute(0, 2, 3, 1)
    if out.dtype == torch.uint8:
        x = x.round_().clamp_(0, 255)
    out[:, :nh, :nw].copy_(x)
    if nh < out.shape[1]:
        out[:, nh:].fill_(pad)
    if nw < out.shape[2]:
        out[:, :nh, nw:].fill_(pad)


def to_host_bgr(image):
    """A device frame (RGB CUDA tensor) as a host BGR numpy image."""
    return image.flip(-1).cpu().numpy()


def host_image(frame):
    """Bring a device frame to the host as a BGR numpy image (for drawing and image sinks); the device buffer goes
    back to its pool. A host image is left as it is."""
    img = frame.image
    if not is_device_image(img):
        return img
    host = to_host_bgr(img)
    frame.release()
    frame.image = host
    return host


def check_takes_device_frames(detector):
    """EngineError (one line) unless the detector's engine can take GPU-decoded frames: a GPU engine (torch or
    tensorrt) with device I/O, whose input is the uint8 image at the model's size."""
    from ..errors import EngineError
    from ..models.device_io import DeviceIOAdapter
    engine = detector.engine
    if getattr(engine, "runtime", None) is None:
        raise EngineError("--decoder nvdec keeps frames on the GPU: it needs --engine torch or tensorrt, not %s"
                          % engine.name)
    if not isinstance(detector.adapter, DeviceIOAdapter):
        raise EngineError("--decoder nvdec needs the engine's device I/O (on by default with the torch engine; "
                          "--device-io with tensorrt; not for SSD-NMS models)")
