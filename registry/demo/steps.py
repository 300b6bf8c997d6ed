"""The later parts of a `seed-demo` run (hosts, needs, applications): a `SeedStep` subclass in
registry/demo/people.py's `EXTRA_STEPS`.

A step gets the run — its `now`, `model`, `planner`, `bulk` writer (registry/common/bulk.py),
`password_hash`, `report` and `rng(name)` for a repeatable random stream of its own — and is called
`before_people()`, then `after_chunk(people)` with each chunk of `PlannedPerson`s (ids, e-mails,
home, consents, skills and registrations with their ids set; their rows queued), then
`after_people()` before the recount. It makes its layouts with `run.bulk.layout(Model, constants)`,
writes with `run.bulk.write(layout, rows)` (in order with the people's rows), and calls
`run.bulk.drain()` before reading through the session. It must not draw from the people's stream.
"""
from __future__ import annotations

from registry.demo.planner import PlannedPerson


class SeedStep:
    """A later part of the demo data. See the module docstring."""

    def __init__(self, run):
        self.run = run  # the `SeedRun` (registry/demo/people.py, which imports the steps)

    def before_people(self) -> None:
        pass

    def after_chunk(self, people: list[PlannedPerson]) -> None:
        pass

    def after_people(self) -> None:
        pass
