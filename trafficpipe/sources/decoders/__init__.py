"""Decoding a video file in child processes (`--decode-processes N`): decode and preprocess outside the GIL.

In one process every stage shares the GIL, and on a GPU machine the capture thread (FFmpeg's decoder and its colour
conversion) and the preprocess thread (OpenCV's resize into the engine's pinned input) are the busiest: after every
OpenCV call each must win the GIL back from four other threads. Here each of N spawned children decodes whole
keyframe-aligned chunks of the file (`sources/segments.py`; the whole file where there are none) and, where the model's
preprocessing is given, also resizes each frame into the model's input, both into slots of its own shared ring (a file
in /dev/shm mapped by both processes). The pipeline process only wraps a slot as a numpy image; its preprocess stage
copies the ready input into the engine's pinned buffer (half a megabyte) instead of resizing a 2.7 MB frame.

One job per module:
  protocol  the records on the pipes between the two processes;
  ring      the shared-memory ring of frames and/or model inputs;
  child     the child process: its decode loop, and the resize thread beside it;
  timing    where a child's time goes;
  handle    the parent's side of one child (`DecodeChild`): its pipes, its ring, the slots given back;
  processes N children over one file's chunks (`DecodeProcesses`, `open_decoders`);
  feed      the FrameFeed that hands their frames to the capture stage (`ProcessFeed`).

The children are started and open the file before the run's clock starts (like building the engine's contexts); they
decode nothing until the run starts, when the parent hands them their free slots. The ring is the backpressure: a
child waits for its slots to come back (`Frame.release` once a frame is written; for a ring of model inputs only, once
the input is read), so no frame is ever dropped.
"""
