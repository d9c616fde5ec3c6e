"""The pycuda runtime on a real GPU: the primary context from many threads, pinned buffers, torch on pycuda memory."""
import threading

import numpy as np
import pytest

from gpu_helpers import report


@pytest.fixture(scope="module")
def rt():
    from trafficpipe.engines.gpu_runtime import CudaRuntime
    return CudaRuntime.get(0)


def _roundtrip(rt, seed, errors):
    import pycuda.driver as cuda
    from trafficpipe.engines.gpu_runtime import HostDeviceBuffer
    try:
        if cuda.Context.get_current() is not None:
            errors.append("thread %d started with a current context" % seed)
        with rt.activate():
            with rt.activate():  # nested entry: no second push
                a = HostDeviceBuffer((4, 1000), np.float32)
                b = HostDeviceBuffer((4, 1000), np.float32)
                stream = cuda.Stream()
                event = cuda.Event()
                for k in range(20):
                    data = np.random.default_rng(seed * 100 + k).standard_normal((4, 1000)).astype(np.float32)
                    a.host[:] = data
                    a.copy_to_device_async(stream, 3)
                    # device -> device through the host-visible pointer of b: copy a's device bytes back into b.host
                    cuda.memcpy_dtoh_async(b.host[:3], a.device, stream)
                    event.record(stream)
                    event.synchronize()
                    if not np.array_equal(b.host[:3], data[:3]):
                        errors.append("thread %d: round trip %d differs" % (seed, k))
                a.free()
                b.free()
                del stream, event
            if cuda.Context.get_current() is None:
                errors.append("thread %d: inner exit popped the context" % seed)
        if cuda.Context.get_current() is not None:
            errors.append("thread %d: context still current after exit" % seed)
    except Exception as e:  # reported by the main thread
        errors.append("thread %d: %s: %s" % (seed, type(e).__name__, e))


def test_primary_context_from_many_threads(rt):
    """8 worker threads push the primary context, copy through pinned memory, free, pop: no error, clean stacks."""
    import pycuda.driver as cuda
    errors = []
    threads = [threading.Thread(target=_roundtrip, args=(rt, i, errors)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not [t for t in threads if t.is_alive()]
    assert errors == []
    assert cuda.Context.get_current() is None
    with rt.activate():
        assert cuda.Context.get_current() is not None
    assert cuda.Context.get_current() is None
    report("primary_context_threads", gpu=rt.device_name, threads=8, errors=len(errors))


def test_device_view_is_a_torch_tensor_on_the_same_memory(rt):
    import pycuda.driver as cuda
    import torch
    from trafficpipe.engines.gpu_runtime import HostDeviceBuffer
    with rt.activate():
        buf = HostDeviceBuffer((2, 3, 5), np.float32)
        stream = cuda.Stream()
        try:
            t = torch.as_tensor(buf.device_view(), device="cuda")
            assert t.data_ptr() == buf.device_ptr
            assert tuple(t.shape) == (2, 3, 5) and t.dtype == torch.float32
            part = torch.as_tensor(buf.device_view(1), device="cuda")
            assert tuple(part.shape) == (1, 3, 5)
            with torch.cuda.stream(torch.cuda.ExternalStream(stream.handle)):
                t.copy_(torch.arange(30, dtype=torch.float32, device="cuda").reshape(2, 3, 5))
            buf.copy_to_host_async(stream)
            stream.synchronize()
            assert np.array_equal(buf.host, np.arange(30, dtype=np.float32).reshape(2, 3, 5))
            del t, part
        finally:
            buf.free()


def test_runtime_describes_the_device(rt):
    d = rt.describe()
    assert d["device"] == "cuda:0" and d["gpu"] == rt.device_name and rt.device_name
    free, total = rt.mem_get_info()
    assert 0 < free <= total
