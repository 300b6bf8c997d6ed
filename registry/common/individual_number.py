"""The registry never accepts the 12-digit Individual Number (マイナンバー) in any field (DESIGN.md
"Registration rules"; API.md "Identity verification"). This is the one place that recognises it;
the shared text fields in schemas.py apply it to everything a person or staff member writes.

Two strengths:
- prose (a need's description, an application's message, a display name …): a 12-digit run whose
  check digit is right. A run with a wrong check digit is a receipt or order number far more often
  than a mistyped Individual Number, and refusing those would get in people's way (about 10 in 11
  random 12-digit numbers fail the check).
- identity fields (what is written about an identity check): any 12-digit run. There a 12-digit
  number is almost certainly someone's Individual Number, perhaps with one digit mistyped (which is
  still 11 digits of it), and nobody has a reason to write another one.
"""
import re

from marshmallow import ValidationError, validate

from registry.i18n import N_

MESSAGE = N_("Do not enter an Individual Number (マイナンバー).")
DIGIT = "[0-9０-９]"
SEPARATOR = "[ \\-‐－ー\u3000]"
# Twelve digits, at most one separator between the groups of four the card prints, and not part of
# a longer run of digits (nor of a longer grouped number such as a card number).
TWELVE_DIGITS = re.compile(
    f"(?<!{DIGIT})(?<!{DIGIT}{SEPARATOR})({DIGIT}{{4}}){SEPARATOR}?({DIGIT}{{4}}){SEPARATOR}?({DIGIT}{{4}})"
    f"(?!{SEPARATOR}?{DIGIT})")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")

CHECK_DIGIT, ANY_TWELVE_DIGITS = "check-digit", "any-12-digits"
STRENGTHS = (CHECK_DIGIT, ANY_TWELVE_DIGITS)


def is_individual_number(digits: str) -> bool:
    """The check digit of the Individual Number (個人番号, 総務省令 第五条)."""
    if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        return False
    body = [int(c) for c in digits[:11]][::-1]  # P1 … P11, from the right
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(body, start=1))
    remainder = total % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return check == int(digits[11])


def twelve_digit_runs(text: str):
    """Each 12-digit run in `text` (half-width digits, separators removed)."""
    for match in TWELVE_DIGITS.finditer(text):
        yield "".join(match.groups()).translate(_FULL_WIDTH)


def contains_individual_number(text: str | None, strength: str = CHECK_DIGIT) -> bool:
    if not text:
        return False
    if strength == ANY_TWELVE_DIGITS:
        return any(True for _ in twelve_digit_runs(text))
    return any(is_individual_number(digits) for digits in twelve_digit_runs(text))


class RefuseIndividualNumber(validate.Validator):
    """A marshmallow validator: the field's text may not hold an Individual Number."""

    error = MESSAGE

    def __init__(self, strength: str = CHECK_DIGIT):
        if strength not in STRENGTHS:
            raise ValueError(f"unknown strength {strength!r}")
        self.strength = strength

    def _repr_args(self) -> str:
        return f"strength={self.strength!r}"

    def __call__(self, value):
        if isinstance(value, str) and contains_individual_number(value, self.strength):
            raise ValidationError(self.error)
        return value
