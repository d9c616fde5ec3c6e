"""Fine-tuning a pretrained detector into the five traffic classes (`trafficpipe train`) and exporting it as ONNX
(`trafficpipe export`).

Needs torch and onnx2torch (`pip install torch==2.13.0` then `pip install --no-deps onnx2torch`); they are imported
only inside the functions that use them, so this package imports on a bare Python 3.6 box.
"""
