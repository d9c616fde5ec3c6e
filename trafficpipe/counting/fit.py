"""Whether the counting lines and zones lie inside each source's frames: checked before anything is written."""
import os

from .spec import check_in_frame


def check_sources(regions, sources):
    """CountSpecError (one line) where a line or zone has a point outside an opened source's frames (video files,
    image sets, connected streams; a stream not connected yet is checked once it is)."""
    for src in sources:
        size = src.frame_size()
        if size:
            check_in_frame(regions, size[0], size[1], src.name)


def check_planned(regions, planned):
    """The same for sources not opened yet (`pipeline.inputs.planned_sources`: uri, output name, is image set), as a
    `--processes` parent checks them: image sets by their first readable image, video files by their container."""
    from ..sources.images import first_image_size, list_images
    from ..sources.video import container_size
    for uri, name, image_set in planned:
        if image_set:
            size = first_image_size(list_images(uri))
        else:
            size = container_size(uri) if os.path.isfile(uri) else None
        if size:
            check_in_frame(regions, size[0], size[1], name)
