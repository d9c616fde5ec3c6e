"""`trafficpipe score`: score an archive of video files, on this machine or across a Ray cluster.

inputs.py lists the videos, probe.py reads what a plan needs from each (frames, keyframes, content hash), plan.py cuts
them into keyframe-aligned segments, worker.py scores a segment through the pipeline and commits its Parquet file,
store.py writes through pyarrow.fs (local folders or object stores), local.py and cluster.py drive a run, manifest.py
records it.
"""
