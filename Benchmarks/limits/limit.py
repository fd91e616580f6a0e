"""One measured figure against its bound."""
import dataclasses
import time


@dataclasses.dataclass
class Limit:
    name: str
    measured: float
    bound: float
    unit: str  # "s" or "MiB"

    @property
    def within(self) -> bool:
        return self.measured < self.bound

    def row(self) -> str:
        return f"| {self.name} | {self.measured:.2f} {self.unit} | < {self.bound:.2f} {self.unit} | " \
               f"{'yes' if self.within else '**no**'} |"


def timed(action):
    """(action(), seconds it took)."""
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start
