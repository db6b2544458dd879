import pytest

from promptlib.experiments import exposures


@pytest.fixture(autouse=True)
def _fresh_exposure_buffer():
    """The no-Redis exposure buffer lives in the process: a test starts with none left by another."""
    exposures._buffer.take()
    yield
    exposures._buffer.take()
