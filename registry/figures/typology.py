"""The 関係人口 typology of 国土交通省's surveys (API.md "Open data"), and its published table.

Each tie of a registration falls in one type; a registration counts once in each type its ties fall
in (two ties of one type: once), a person once in each type their active registrations' ties fall
in. The ledger keeps them as the metric "type" with person tallies (registry/figures/ledger.py).

Relations that hold between the cells (suppression.py), for the ties and the types published
together (the live `/stats/by-tie` and `/stats/by-type` come from one release):

- a type of one tie is that tie's count: participation = volunteer, two_region =
  two_region_living, contribution = furusato_nozei, other = other (the same cells, suppressed alike);
- a type of two ties: its 延べ = the two ties' 延べ − the registrations with both (internal), its
  実人数 = the two ties' 実人数 − the people with both (internal);
- as for the ties: a type's 延べ = its 実人数 + their further registrations in it (internal); the
  types' 実人数 = the national + the people in several types (internal); the types' 延べ = the
  national + the registrations counted in several types (internal).
"""
from collections import Counter

from registry.figures.suppression import Release

TYPES = {
    "kinship": ("birthplace", "family"),
    "leisure": ("repeat_visit", "product_purchase"),
    "participation": ("volunteer",),
    "work": ("side_job", "work_or_study"),
    "two_region": ("two_region_living",),
    "contribution": ("furusato_nozei",),
    "other": ("other",),
}
TYPE_OF = {tie: kind for kind, ties in TYPES.items() for tie in ties}


def types_of(ties) -> list[str]:
    """The types a registration's ties fall in, each once, in TYPES order."""
    found = {TYPE_OF.get(tie, "other") for tie in ties}
    return [kind for kind in TYPES if kind in found]


def _pairs(release: Release, prefix: str, sums: dict[str, Counter], keys, total_prefix=("total",)) -> None:
    for key in keys:
        for field in ("people", "registrations"):
            if (prefix, key, field) not in release:
                release.cell((prefix, key, field), sums.get(key, Counter())[field])


def typology_release(types: dict[str, Counter], total: Counter, ties: dict[str, Counter] | None = None,
                     tie_order: tuple = ()) -> Release:
    """Cells (("type", kind, field) and, with `ties`, ("tie", tie, field)) for people and
    registrations, with the relations of the module's docstring; the national totals are public."""
    release = Release()
    for field in ("people", "registrations"):
        release.cell(("total", field), total[field], public=True)
    if ties is not None:
        tie_keys = list(tie_order) + sorted(k for k in ties if k not in tie_order)
        _pairs(release, "tie", ties, tie_keys)
        _dimension_relations(release, "tie", tie_keys)
        for kind, members in TYPES.items():
            if len(members) == 1 and members[0] in tie_keys:
                for field in ("people", "registrations"):
                    release.alias(("type", kind, field), ("tie", members[0], field))
    _pairs(release, "type", types, TYPES)
    _dimension_relations(release, "type", list(TYPES))
    if ties is not None:
        for kind, members in TYPES.items():
            if len(members) == 2:
                for field in ("people", "registrations"):
                    release.overlap(("both", kind, field), [("tie", tie, field) for tie in members],
                                    [("type", kind, field)])
    return release


def _dimension_relations(release: Release, prefix: str, keys: list[str]) -> None:
    for key in keys:
        release.overlap((prefix, "more than one", key), [(prefix, key, "registrations")], [(prefix, key, "people")])
    release.overlap((prefix, "several", "people"), [(prefix, key, "people") for key in keys], [("total", "people")])
    release.overlap((prefix, "several", "registrations"), [(prefix, key, "registrations") for key in keys],
                    [("total", "registrations")])


def type_rows(published, *, label: str = "type") -> list[dict]:
    return [{label: kind, "actual_people": published.get(("type", kind, "people")),
             "cumulative_registrations": published.get(("type", kind, "registrations"))} for kind in TYPES]


def tie_rows(published, keys) -> list[dict]:
    return [{"tie": tie, "actual_people": published.get(("tie", tie, "people")),
             "cumulative_registrations": published.get(("tie", tie, "registrations"))} for tie in keys]


def typology_rows(types: dict[str, Counter], total: Counter, *, min_cell: int, ties: dict[str, Counter] | None = None,
                  tie_order: tuple = (), complementary: bool = True) -> dict[str, list[dict]]:
    """{"types": rows, "ties": rows (with `ties`)}: one protected release."""
    release = typology_release(types, total, ties, tie_order)
    published = release.protect(min_cell, complementary=complementary)
    out = {"types": type_rows(published)}
    if ties is not None:
        keys = list(tie_order) + sorted(k for k in ties if k not in tie_order)
        out["ties"] = tie_rows(published, keys)
    return out
