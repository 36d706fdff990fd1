"""Names of score cells and of the jobs that refresh them. Pure: shared by the gateway and jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass

REFRESH_CELL = "scoring.jobs.refresh_cell"
REFRESH_PERIOD = "scoring.jobs.refresh_period"
SWEEP = "scoring.jobs.sweep_dirty_cells"
SWEEP_JOB_ID = "sweep-dirty-cells"
REVIEW_QUARTERS = "scoring.jobs.review_ended_quarters"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, order=True)
class Cell:
    """One score cell: a period, an institution unit and an indicator."""

    period: str
    unit_id: int
    indicator: str

    @property
    def job_id(self) -> str:
        """RQ job id for refreshing this cell: deterministic, `[A-Za-z0-9_-]+`."""
        return _UNSAFE.sub("_", f"cell-{self.period}-{self.unit_id}-{self.indicator}")


def refresh_job_id(period: str) -> str:
    """RQ job id of a period's batch refresh: one queued (or running) per period at a time."""
    return _UNSAFE.sub("_", f"refresh-{period}")
