"""Demo data: `seed-demo` (registry/demo/cli.py) adds synthetic residents with registrations, hosts,
needs and applications. A top-level tool, like the command line: it may use any domain's models and
registry.common.bulk; no domain imports it.

- model.py     the weights: who lives where, who registers where and how (`Model.load()`)
- planner.py   people drawn from `random.Random(seed)` in plain Python, and their ledger
- people.py    a run (`SeedRun`, `seed_demo`): the people's rows, the later steps, the recount
- steps.py     `SeedStep`, what a later step (hosts, needs) is given
- hosts.py     demo hosts (ヌシ), in proportion to each 団体's registrants
- needs.py     demo needs and applications, in proportion to the people
- cli.py       the `seed-demo` command
"""
