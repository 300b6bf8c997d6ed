"""Field error messages in the caller's language.

marshmallow and our validators write English; `translate()` turns each message into the caller's
language through the gettext catalog. `N_` marks a string for extraction without translating it
(pybabel runs with `-k N_`); templated messages are matched by pattern.
"""
import re

from flask_babel import gettext


def N_(message: str) -> str:
    return message


# marshmallow's own messages, so that the catalog carries them.
MARSHMALLOW = [
    N_("Missing data for required field."), N_("Field may not be null."), N_("Invalid value."),
    N_("Not a valid string."), N_("Not a valid utf-8 string."), N_("Not a valid integer."),
    N_("Not a valid number."), N_("Number too large."), N_("Not a valid boolean."),
    N_("Not a valid email address."), N_("Not a valid list."), N_("Invalid type."), N_("Not a valid date."),
    N_("Not a valid datetime."), N_("Not a valid UUID."), N_("Not a valid mapping type."),
    N_("Invalid input type."), N_("Unknown field."), N_("Must be one of: {choices}."),
    N_("Special numeric values (nan or infinity) are not permitted."),
]

# A text's length, where marshmallow's own message would serve lists as well ("件（文字）").
CHARACTERS = N_("Use {min} to {max} characters.")

# (pattern of the English message, template in the catalog)
PATTERNS = [
    (re.compile(r"^Use (?P<min>\d+) to (?P<max>\d+) characters\.$"), CHARACTERS),
    (re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"), N_("Longer than maximum length {max}.")),
    (re.compile(r"^Shorter than minimum length (?P<min>\d+)\.$"), N_("Shorter than minimum length {min}.")),
    (re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"), N_("Length must be between {min} and {max}.")),
    (re.compile(r"^Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.$"),
     N_("Must be between {min} and {max}.")),
    (re.compile(r"^Must be greater than or equal to (?P<min>\S+)\.$"), N_("Must be at least {min}.")),
    (re.compile(r"^Must be less than or equal to (?P<max>\S+)\.$"), N_("Must be at most {max}.")),
    (re.compile(r"^Must be one of: (?P<choices>.*)\.$"), N_("Must be one of: {choices}.")),
]


def translate(message: str) -> str:
    for pattern, template in PATTERNS:
        match = pattern.match(message)
        if match:
            return gettext(template).format(**match.groupdict())
    return gettext(message)
