"""One exception type per domain, each carrying a message written for the user.

Entry points (command line, HTTP API, WebUI tab) catch :class:`Depth3DError` and show its
message: exit code 2 with one line on stderr, a 4xx response, or a message beside the canvas.
"""


class Depth3DError(Exception):
    """Base of every error whose message is meant for the user (what is wrong, what to do)."""


class InputError(Depth3DError):
    """A file, image, array or request field that cannot be used as given."""


class OutputError(InputError):
    """An output that cannot be written: its folder is missing, it names a folder, the disk is full."""


class CalibrationError(Depth3DError):
    """The vanishing lines or calibration settings do not determine a camera."""


class FspyFormatError(InputError):
    """A `.fspy` project or fSpy camera-parameters file that cannot be read."""


class WeightsError(Depth3DError):
    """A depth network's weight file is missing, corrupt, or does not match its architecture."""


class DepthSourceError(Depth3DError):
    """A depth source failed while running: the GPU ran out of memory, or ControlNet's
    preprocessor raised an error of its own."""


class SceneError(Depth3DError):
    """The 3D scene cannot be built or written from the given depth, picture and camera."""


class ServerBusyError(Depth3DError):
    """The HTTP API holds as many requests as it may (running and waiting): the request is refused
    unread (HTTP 503), with the whole seconds after which it may find room."""

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s
