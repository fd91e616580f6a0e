"""Exceptions raised by the client."""

from typing import Any, Dict, List, Optional


class LossError(Exception):
    """Base class of every error the client raises."""


class LossProblem(LossError):
    """The server refused the request: carries its RFC 9457 problem document.

    `errors` lists the offending fields as ``{"pointer": "/chosen/mask/1/2", "detail": ...}``.
    """

    def __init__(self, status: int, problem: Dict[str, Any]):
        self.status = status
        self.problem = problem
        self.type: str = problem.get("type", "about:blank")
        self.title: str = problem.get("title", "")
        self.detail: str = problem.get("detail", "")
        self.errors: List[Dict[str, str]] = problem.get("errors", [])
        super().__init__(f"{status} {self.title}: {self.detail}")

    @property
    def pointers(self) -> List[str]:
        return [error.get("pointer", "") for error in self.errors]


class LossConnectionError(LossError):
    """The server could not be reached (after the retries)."""

    def __init__(self, message: str, cause: Optional[BaseException] = None):
        super().__init__(message)
        self.__cause__ = cause
