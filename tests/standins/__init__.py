"""Local stand-ins for external services, speaking their real wire formats."""


def __getattr__(name: str):
    # Lazy, so that `python -m tests.standins.server` does not import the module twice.
    if name in ("Failure", "StandinServer"):
        from tests.standins import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = ["Failure", "StandinServer"]
