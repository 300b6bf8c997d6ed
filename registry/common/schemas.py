"""Base schema and fields shared by every domain's schemas."""
import re
from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from registry.common.individual_number import ANY_TWELVE_DIGITS, CHECK_DIGIT, RefuseIndividualNumber
from registry.i18n import N_
from registry.common.time import TOKYO

# The OpenAPI extension naming the fields that refuse an Individual Number (and how strictly).
REFUSES_INDIVIDUAL_NUMBER = "x-refuses-individual-number"


class BaseSchema(Schema):
    """Unknown fields are refused (422), so a typo never passes silently; so are NUL characters,
    which PostgreSQL cannot store in text."""

    class Meta:
        unknown = RAISE
        ordered = True

    @pre_load
    def refuse_nul(self, data, **kwargs):
        if isinstance(data, dict):
            bad = {k: [N_("NUL characters are not allowed.")] for k, v in data.items() if _has_nul(v)}
            if bad:
                raise ValidationError(bad)
        return data


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    return False


class TokyoDateTime(fields.DateTime):
    """ISO 8601 with the +09:00 offset (API.md: timestamps carry +09:00)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(TOKYO).isoformat()


class Id(fields.String):
    """Ids are opaque strings to clients (UUIDs inside)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


def BoundedString(max_length: int, **kwargs) -> fields.String:
    """A string with an upper bound that is not prose: a code, a token, a search term (never stored
    as what a person wrote)."""
    extra = kwargs.pop("validate", None)
    validators = [validate.Length(max=max_length)]
    if extra:
        validators.extend(extra if isinstance(extra, list) else [extra])
    return fields.String(validate=validators, **kwargs)


class RefuseControlCharacters(validate.Validator):
    """No control characters but tab and line breaks (they cannot be typed, and only confuse whoever
    reads the text later: a CSV, a terminal, a log)."""

    error = N_("Control characters are not allowed.")
    CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

    def __call__(self, value):
        if isinstance(value, str) and self.CONTROL.search(value):
            raise ValidationError(self.error)
        return value


def text_validators(max_length: int, *, identity: bool = False, required: bool = False) -> list:
    """The one rule for free text a person or staff member writes, whatever the door: the API's and
    the pages' schemas (`Text` below), the roster import (`text_problems`), partner reports. Bounded
    (huge strings are refused, never stored), no control characters, and never an Individual Number
    (individual_number.py; `identity=True` for what is written about an identity check refuses any
    12-digit run)."""
    strength = ANY_TWELVE_DIGITS if identity else CHECK_DIGIT
    return [validate.Length(min=1 if required else None, max=max_length), RefuseControlCharacters(),
            RefuseIndividualNumber(strength)]


def text_problems(value: str, max_length: int, *, identity: bool = False, required: bool = False) -> list[str]:
    """What the shared rule says of `value` (English messages; none: it may be stored), for a door
    that is not a schema (the roster import reads CSV rows)."""
    found = []
    for validator in text_validators(max_length, identity=identity, required=required):
        try:
            validator(value)
        except ValidationError as error:
            found.extend(error.messages)
    return found


def Text(max_length: int, *, identity: bool = False, **kwargs) -> fields.String:
    """Free text a person or staff member writes, under `text_validators`' rule. The OpenAPI document
    marks these fields with `x-refuses-individual-number`."""
    strength = ANY_TWELVE_DIGITS if identity else CHECK_DIGIT
    extra = kwargs.pop("validate", None)
    extra = extra if isinstance(extra, list) else [extra] if extra else []
    metadata = {**kwargs.pop("metadata", {}), REFUSES_INDIVIDUAL_NUMBER: strength}
    return fields.String(validate=[*text_validators(max_length, identity=identity), *extra], metadata=metadata,
                         **kwargs)


def NonEmptyText(max_length: int, **kwargs) -> fields.String:
    extra = kwargs.pop("validate", None)
    extra = extra if isinstance(extra, list) else [extra] if extra else []
    return Text(max_length, validate=[validate.Length(min=1), *extra], **kwargs)


def StringList(max_items: int, max_length: int, **kwargs) -> fields.List:
    return fields.List(NonEmptyText(max_length), validate=validate.Length(max=max_items), **kwargs)


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def CalendarDate(**kwargs) -> fields.Date:
    """A calendar date a person or staff member gives (a need's days, an activity's day, a benefit's
    validity …): years 2000–2100, so no date outside what the service can sensibly store, print in a
    calendar or compare is ever accepted (API.md "Trust rules": 422, never 500)."""
    extra = kwargs.pop("validate", None)
    extra = extra if isinstance(extra, list) else [extra] if extra else []
    return fields.Date(validate=[validate.Range(min=FIRST_DAY, max=LAST_DAY), *extra], **kwargs)


def OrganizationCode(**kwargs) -> fields.String:
    """A 6-digit 全国地方公共団体コード; whether it names a 団体 is the service's question
    (422 `unknown_organization`), so only the length is checked here."""
    return fields.String(validate=validate.Length(max=6), **kwargs)


class PaginationSchema(BaseSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
