"""Pool URL validation: the schemes each firmware accepts, Stratum V2 keys, clear reasons."""

from __future__ import annotations

import pytest

from miners.base import PoolConfig
from miners.stratum import SCHEME, SV2_SCHEME, parse_stratum_url, validate_pools

KEY = "9awtMD5KQgvRUh2yFbjVeT7b6hjipWcAsQHd6wEhgtDT9soosna"  # base58, as in Braiins' SV2 manual examples


@pytest.mark.parametrize("url, expected", [
    ("stratum+tcp://pool.example:3333", ("pool.example", 3333)),
    (" STRATUM+TCP://10.0.0.5:443 ", ("10.0.0.5", 443)),
])
def test_v1_urls(url, expected):
    assert parse_stratum_url(url) == expected


@pytest.mark.parametrize("url, fragment", [
    ("http://pool:3333", "stratum+tcp://host:port"),
    ("stratum+tcp://pool", "needs a port"),
    ("stratum+tcp://pool:99999", "1 to 65535"),
    ("stratum+tcp://po ol:3333", "valid host"),
    ("stratum+tcp://user:pw@pool:3333", "valid host"),
    (f"stratum2+tcp://pool:3333/{KEY}", "stratum+tcp://host:port"),  # SV2 only where the firmware has it
])
def test_bad_urls_say_why(url, fragment):
    with pytest.raises(ValueError, match=fragment.replace("+", r"\+")):
        parse_stratum_url(url)


def test_stratum_v2_needs_its_key():
    both = (SCHEME, SV2_SCHEME)
    assert parse_stratum_url(f"stratum2+tcp://v2.pool.example:3336/{KEY}", both) == ("v2.pool.example", 3336)
    with pytest.raises(ValueError, match="public key"):
        parse_stratum_url("stratum2+tcp://v2.pool.example:3336", both)
    with pytest.raises(ValueError, match="public key"):
        parse_stratum_url("stratum2+tcp://v2.pool.example:3336/not-base58-0OIl", both)


def test_validate_pools_limits_and_users():
    pool = PoolConfig("stratum+tcp://a.example:3333", "me.1")
    assert len(validate_pools([pool, pool], max_pools=3)) == 2
    with pytest.raises(ValueError, match="at most 1"):
        validate_pools([pool, pool], max_pools=1)
    with pytest.raises(ValueError, match="at least one"):
        validate_pools([], max_pools=3)
    with pytest.raises(ValueError, match="worker/user"):
        validate_pools([PoolConfig("stratum+tcp://a.example:3333", "me\nx")], max_pools=3)
