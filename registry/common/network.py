"""Is the caller on the operator's network? (API.md: `/readyz` and `/metrics` are for it alone.)

The networks come from `METRICS_ALLOWED_NETWORKS` (CIDR list). The caller is the peer address and,
when a proxy forwarded the request, every address in `X-Forwarded-For`, `X-Real-IP` and `Forwarded`:
all of them must be inside. A proxy appends the address it saw, so a request from outside that came
through a proxy on the operator's network carries an outside address and is refused; a forged header
can only add addresses, never remove the one the proxy appended.
"""
import ipaddress
import re
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = re.compile(r'for\s*=\s*("?)([^";,]+)\1', re.IGNORECASE)


@lru_cache(maxsize=8)
def parse_networks(text: str) -> tuple[Network, ...]:
    """'127.0.0.0/8, 10.0.0.0/8 ::1/128' → networks; ValueError names the entry that is not a CIDR."""
    networks = []
    for entry in re.split(r"[,\s]+", text.strip()):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP network (CIDR such as 10.0.0.0/8)") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:text.find("]")]
    elif text.count(":") == 1:  # Forwarded: for=192.0.2.1:8080
        text = text.split(":")[0]
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def caller_addresses(remote_addr: str | None, headers) -> list[str]:
    """The peer and every address a proxy (or the client) put in the forwarding headers."""
    found = [remote_addr or ""]
    for value in headers.getlist("X-Forwarded-For"):
        found += value.split(",")
    found += headers.getlist("X-Real-IP")
    for value in headers.getlist("Forwarded"):
        found += [match.group(2) for match in _FORWARDED_FOR.finditer(value)] or [value]
    return found


def all_inside(addresses: list[str], networks: tuple[Network, ...]) -> bool:
    """True when every address parses and lies in one of the networks; anything unreadable
    (a unix socket peer, `unknown`, an obfuscated Forwarded name) counts as outside."""
    for text in addresses:
        try:
            address = _address(text)
        except ValueError:
            return False
        if not any(address in network for network in networks):
            return False
    return True
