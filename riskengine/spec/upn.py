"""Unique Pupil Numbers, checked by python-stdnum (the spec asks for it rather than our own arithmetic)."""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.gb import upn as _upn

CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn_problem(value: str) -> str | None:
    """Why `value` is not a valid UPN, in words a school data manager understands; None when it is valid."""
    try:
        _upn.validate(value)
    except InvalidLength:
        return "must be 13 characters"
    except InvalidChecksum:
        return f"check letter should be {_upn.calc_check_digit(value[1:])}"
    except InvalidComponent:
        return f"'{value[1:4]}' is not a local authority number"
    except InvalidFormat:
        return "must be a check letter, 11 digits and a final digit or letter"
    except ValidationError:
        return "is not a valid UPN"
    return None


def is_temporary(value: str) -> bool:
    """Temporary UPNs end in a letter; they are accepted but reported."""
    return value[-1:].isalpha()


def with_check_letter(body: str) -> str:
    """Prefix the 12-character `body` with its check letter."""
    return _upn.calc_check_digit(body) + body
