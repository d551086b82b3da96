"""The token format `shp_<random>_<checksum>`: recognisable, self-checking, stored only as a hash."""

from __future__ import annotations

import hashlib
import re
import string

import pytest

from shipyard.identity import token_format

TOKEN_SHAPE = re.compile(r"^shp_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}$")


def _with_wrong_checksum(token: str) -> str:
    prefix, random_part, checksum = token.split("_")
    wrong = next(c for c in string.ascii_letters if c != checksum[-1])
    return f"{prefix}_{random_part}_{checksum[:-1]}{wrong}"


def test_generated_tokens_are_well_formed_and_distinct() -> None:
    tokens = {token_format.generate() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert TOKEN_SHAPE.fullmatch(token), token
        assert token_format.is_well_formed(token)


def test_a_changed_checksum_is_not_well_formed() -> None:
    token = token_format.generate()
    assert not token_format.is_well_formed(_with_wrong_checksum(token))


def test_a_changed_random_part_breaks_the_checksum() -> None:
    token = token_format.generate()
    prefix, random_part, checksum = token.split("_")
    flipped = ("b" if random_part[0] == "a" else "a") + random_part[1:]
    assert not token_format.is_well_formed(f"{prefix}_{flipped}_{checksum}")


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "shp_",
        "ghp_" + "a" * 32 + "_000000",
        "shp_" + "a" * 31 + "_000000",
        "shp_" + "a" * 32,
        "shp_" + "a" * 32 + "_000000_extra",
        "shp_" + "é" * 32 + "_000000",
    ],
)
def test_malformed_strings_are_not_well_formed(candidate: str) -> None:
    assert not token_format.is_well_formed(candidate)


def test_the_stored_form_is_the_hex_sha256_of_the_secret() -> None:
    token = token_format.generate()
    assert token_format.hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert token not in token_format.hash_token(token)


def test_the_display_prefix_reveals_only_the_start_of_the_secret() -> None:
    token = token_format.generate()
    shown = token_format.display_prefix(token)
    assert token.startswith(shown)
    assert shown.startswith("shp_")
    assert len(shown) <= 12
