"""The sink contract."""


class Sink(object):
    """Receives the frames of one source in order. `needs_image` sinks get the annotated image."""

    needs_image = False

    def write(self, frame):
        raise NotImplementedError

    def close(self):
        pass
