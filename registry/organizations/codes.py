"""全国地方公共団体コード: 5 digits and a check digit (総務省: weights 6..2, 11 − sum mod 11, last digit)."""
import re
import unicodedata

_CODE = re.compile(r"^\d{6}$")


def check_digit(five: str) -> str:
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2)))
    return str((11 - total % 11) % 10)


def padded(code: str) -> str:
    """A 6-digit code whose leading zero was lost (as in japancode's data: `11002` → `011002`)."""
    code = code.strip().zfill(6)
    if not is_well_formed(code):
        raise ValueError(f"not a 団体 code: {code}")
    return code


def is_well_formed(code) -> bool:
    return isinstance(code, str) and bool(_CODE.match(code)) and check_digit(code[:5]) == code[5]


def prefecture_code_of(code: str) -> str:
    """The prefecture's own 6-digit code for any 団体 code (first two digits, then 000 and check)."""
    five = code[:2] + "000"
    return five + check_digit(five)


def normalize_prefecture_param(value: str) -> str | None:
    """`21`, `1`–`47`, `01`–`47` or a 6-digit prefecture code → the prefecture's 6-digit code."""
    value = value.strip()
    if value.isdigit() and len(value) <= 2 and 1 <= int(value) <= 47:
        return prefecture_code_of(value.zfill(2))
    if is_well_formed(value) and value[2:5] == "000" and 1 <= int(value[:2]) <= 47:
        return value
    return None


def to_hiragana(text: str) -> str:
    """Normalises width (NFKC) and turns katakana into hiragana, to search the kana column."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)
