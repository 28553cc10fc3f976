"""The user's mistakes the engine can detect, each with a one-line message fit for the terminal."""

from gantui.config import ConfigError
from gantui.engine.checkpoint import CheckpointError
from gantui.engine.data import DataError
from gantui.engine.device import DeviceError
from gantui.engine.quality import QualityError
from gantui.engine.runlock import RunFolderError
from gantui.engine.session import SessionError

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError, CheckpointError, DataError, DeviceError, QualityError, RunFolderError, SessionError,
)
