"""The argument checks (pystack.errors) and the CLI's argument types: whatever the input,
a valid value comes back unchanged and anything else is a ValueError (an argparse error
in the CLI) naming it; nothing else is ever raised."""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pystack import errors
from pystack.clicmd import _attach

anything = st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans(),
                     st.binary())  # fmt: skip


@given(st.integers(1, 65535))
def test_every_port_is_taken(port: int) -> None:
    assert errors.check_port(port) == port
    assert _attach.port(str(port)) == port


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_no_out_of_range_port_is_taken(port: int) -> None:
    try:
        _attach.port(str(port))
    except argparse.ArgumentTypeError as exc:
        assert str(exc) == f"{port} is not a port (1-65535)"
    else:
        raise AssertionError(f"port {port} was taken")


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_every_address_with_a_prefix_is_taken(address: int, prefix: int) -> None:
    text = f"{ipaddress.IPv4Address(address)}/{prefix}"
    assert errors.check_cidr(text) == text and _attach.cidr(text) == text
    bare = str(ipaddress.IPv4Address(address))
    assert errors.check_address(bare) == bare


@given(st.binary(min_size=6, max_size=6))
def test_macs_are_taken_when_unicast(raw: bytes) -> None:
    text = ":".join(f"{b:02X}" for b in raw)
    if raw[0] & 1:
        try:
            errors.check_mac(text)
        except ValueError as exc:
            assert "multicast" in str(exc)
        else:
            raise AssertionError("a multicast MAC was taken")
    else:
        assert errors.check_mac(text) == text.lower()


@given(anything)
def test_any_input_is_a_value_or_a_value_error(value: Any) -> None:
    for check in (errors.check_port, errors.check_mtu, errors.check_cidr,
                  errors.check_address, errors.check_mac):  # fmt: skip
        try:
            check(value)
        except ValueError as exc:
            assert repr(value) in str(exc)


@given(st.text())
def test_any_command_line_text_parses_or_is_an_argparse_error(text: str) -> None:
    for kind in (_attach.port, _attach.mtu, _attach.cidr, _attach.ipv4, _attach.mac,
                 _attach.positive, _attach.positive_int):  # fmt: skip
        try:
            kind(text)
        except argparse.ArgumentTypeError as exc:
            assert str(exc).startswith(text)  # names the value as typed
