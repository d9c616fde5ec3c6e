#!/usr/bin/env bash
# Stage NVIDIA's PyNvVideoCodec (for `--decoder nvdec`) into .gpu-carry/nvdec for a GPU host (Python 3.12,
# CUDA 13 driver): the wheel unpacked, its copies of the FFmpeg libraries made links again, the CUDA 12 module and the
# FFmpeg source tarball left out, so it adds about 15 MB to the staged copy. bench/gpu.sh puts it on PYTHONPATH when present.
# Run from the repo root after ../shared/gpu/prepare-carry.sh.
set -euo pipefail
version=${1:-2.2.4}
dst=.gpu-carry/nvdec
tmp=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 -d "$tmp" "PyNvVideoCodec==$version"
rm -rf "$dst" && mkdir -p "$dst"
unzip -q "$tmp"/pynvvideocodec-*.whl 'PyNvVideoCodec/*' 'pynvvideocodec.*/*' -d "$dst"
cd "$dst/PyNvVideoCodec"
rm -f PyNvVideoCodec_12*.so
for lib in libavformat libavutil; do
  full=$(ls $lib.so.*.*.* | head -1)
  major=${full#$lib.so.}; major=${major%%.*}
  rm -f $lib.so $lib.so.$major && ln -s "$full" $lib.so && ln -s "$full" $lib.so.$major
done
cd - >/dev/null
rm -rf "$tmp"
du -sh "$dst"
