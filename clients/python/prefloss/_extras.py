"""The error for a part of the client imported without the extra that installs what it needs."""


def missing_extra(module: str, extra: str, error: ImportError) -> ImportError:
    """An ImportError that names the extra of the client that ``module`` needs, and how to install it."""
    return ImportError(
        f"{module} needs the client's [{extra}] extra ({error}); install the client with it: "
        f"pip install \"./clients/python[{extra}]\" in a clone of prefloss, or "
        f"pip install \"prefloss-<version>-py3-none-any.whl[{extra}]\" from `make wheel` (see the client's README)")
