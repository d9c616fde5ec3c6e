"""Test doubles for what cannot exist on a CPU box: pycuda (fake_pycuda) and TensorRT (fake_tensorrt).

Install them per test through `monkeypatch` (`fake_pycuda.install(monkeypatch)`, `fake_tensorrt.install(monkeypatch,
"10")`), never globally: every test gets a fresh fake device and a fresh fake TensorRT module.
"""
