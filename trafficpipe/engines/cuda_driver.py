"""The pycuda driver module, imported and initialised once per process (lazily: `import trafficpipe` works without
pycuda)."""
import threading

from ..errors import EngineError, first_line as _first_line

_cuda = None  # the pycuda.driver module, once imported
_init_lock = threading.Lock()


def cuda_driver():
    """The pycuda.driver module, initialised once; EngineError (one line) where pycuda or a CUDA driver is missing."""
    global _cuda
    if _cuda is not None:
        return _cuda
    with _init_lock:
        if _cuda is None:
            try:
                import pycuda.driver as cuda
            except ImportError as e:
                raise EngineError("pycuda is not installed or cannot load the CUDA driver (%s): pip install pycuda "
                                  "on a machine with an NVIDIA GPU" % (str(e).splitlines()[0] if str(e) else "ImportError"))
            try:
                cuda.init()
            except Exception as e:
                raise EngineError("CUDA driver could not be initialised: %s" % _first_line(e))
            _cuda = cuda
    return _cuda
