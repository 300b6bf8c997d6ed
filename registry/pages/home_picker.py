"""Where you live, chosen like an address: the prefecture first, then the municipality by name.

Sign-up and the profile share it (the `home_picker` macro in pages/macros.html). The form posts
`home_municipality_code` as the API names it, beside the picker's own `home_prefecture`. Without
JavaScript the prefecture's button (`pick_prefecture`) posts the form back and the page shows what was
typed with that prefecture's municipalities; static/home-picker.js lists them in place instead.
"""
from collections.abc import Mapping

from flask import request
from flask_babel import gettext as _

from registry.errors import Problem
from registry.i18n import N_
from registry.organizations.codes import is_well_formed, normalize_prefecture_param, prefecture_code_of
from registry.pages.common import load_form

PREFECTURE = "home_prefecture"
MUNICIPALITY = "home_municipality_code"
PICK = "pick_prefecture"
CHOOSE = N_("Choose the municipality where you live from the list.")


def picking() -> bool:
    """The form was posted by the prefecture's button to list its municipalities: change nothing.
    When one of them is already chosen there is nothing to list, and the post is the form's own
    (Enter in a field presses the form's first button, which without JavaScript is this one)."""
    if PICK not in request.form:
        return False
    named = normalize_prefecture_param((request.form.get(PREFECTURE) or "")[:6])
    code = (request.form.get(MUNICIPALITY) or "").strip()
    return not (named and is_well_formed(code) and prefecture_code_of(code) == named)


def chosen_prefecture(home: str | None = None) -> str | None:
    """The prefecture whose municipalities the picker lists: the one chosen in the form (or named in
    the query), else the posted municipality's, else `home`'s."""
    named = (request.values.get(PREFECTURE) or "").strip()[:6]
    if named:
        return normalize_prefecture_param(named)
    code = (request.values.get(MUNICIPALITY) or "").strip() or home
    return prefecture_code_of(code) if is_well_formed(code) else None


def load(schema, values: Mapping, *, required: bool) -> dict:
    """The form through `schema` (pages.common.load_form) with the home checked beside it, so that
    every field's error shows at once: a required home not chosen, or a municipality that is not in
    the prefecture the form shows (the prefecture changed, its list not asked for yet)."""
    home_errors = _home_errors(values, required)
    try:
        fields = load_form(schema, values)
    except Problem as problem:
        if home_errors:
            problem.errors = {**(problem.errors or {}), **home_errors}
        raise
    if home_errors:
        raise Problem(422, "validation_error", errors=home_errors)
    return fields


def _home_errors(values: Mapping, required: bool) -> dict:
    named = normalize_prefecture_param((request.form.get(PREFECTURE) or "")[:6])
    code = values.get(MUNICIPALITY) or ""
    if not code:
        return {MUNICIPALITY: [CHOOSE]} if required or named else {}
    if named and isinstance(code, str) and is_well_formed(code) and prefecture_code_of(code) != named:
        return {MUNICIPALITY: [CHOOSE]}
    return {}


def feedback(errors: dict, message: str | None) -> tuple[dict, str | None]:
    """A refusal of the home field asks where the person lives, beside the field and at the top."""
    if errors and errors.get(MUNICIPALITY):
        errors = {**errors, MUNICIPALITY: [_(CHOOSE)]}
        message = _("Where do you live? Choose your prefecture, then your municipality.")
    return errors, message
