"""RunPosition: where a loss request sits in its run, sent as the X-Run-Step, X-Run-Part and
X-Run-Phase headers, so the server can put a distributed, accumulated step's requests together."""

import operator
from dataclasses import dataclass
from typing import Dict, Literal

#: The largest number any of the headers carries: 15 digits.
MAX_NUMBER = 10**15 - 1
PHASES = ("train", "eval")


@dataclass(frozen=True)
class RunPosition:
    """One request's place in its run: optimizer ``step``, this process's ``rank`` of ``ranks``,
    its micro-batch ``micro`` of ``micros`` (the batches accumulated into the step; for an
    evaluation, the evaluation's batches on this rank), and the ``phase``. Raises ValueError,
    naming the field, for numbers out of range or an unknown phase."""

    step: int
    rank: int = 0
    ranks: int = 1
    micro: int = 0
    micros: int = 1
    phase: Literal["train", "eval"] = "train"

    def __post_init__(self) -> None:
        self._check("step", 0, MAX_NUMBER)
        self._check("ranks", 1, MAX_NUMBER)
        self._check("rank", 0, self.ranks - 1)
        self._check("micros", 1, MAX_NUMBER)
        self._check("micro", 0, self.micros - 1)
        if self.phase not in PHASES:
            raise ValueError(f"RunPosition.phase: expected one of {PHASES}, got {self.phase!r}")

    def _check(self, name: str, low: int, high: int) -> None:
        """Makes field ``name`` a plain int (from any integer type but bool) within [low, high], or
        raises ValueError naming it."""
        value = getattr(self, name)
        try:
            number = None if isinstance(value, bool) else operator.index(value)
        except TypeError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"RunPosition.{name}: expected an integer from {low} to {high}, got {value!r}")
        object.__setattr__(self, name, number)

    def headers(self) -> Dict[str, str]:
        """``X-Run-Step: 12``, ``X-Run-Part: 1/2 0/4`` (rank/ranks micro/micros), ``X-Run-Phase: train``."""
        return {"X-Run-Step": str(self.step), "X-Run-Part": f"{self.rank}/{self.ranks} {self.micro}/{self.micros}",
                "X-Run-Phase": self.phase}
