"""Which IP addresses are on the public internet: the SSRF rule for callbacks.

The tables below are IANA's IPv4 and IPv6 Special-Purpose Address Registries (as of 2025),
written out so that the rule does not depend on the Python version: ``ipaddress``'s
``is_global`` uses an older copy (Python 3.12.1 knows neither RFC 9637's ``3fff::/20`` nor
RFC 8215's ``64:ff9b:1::/48``). An address is public only if both the tables and
``is_global`` say so, and an IPv6 form that embeds an IPv4 address (mapped, compatible,
translated, NAT64, 6to4, Teredo) only if that IPv4 address is public too: the kernel, a tunnel
or a translator may deliver the connection to it.

Registries: https://www.iana.org/assignments/iana-ipv4-special-registry/
            https://www.iana.org/assignments/iana-ipv6-special-registry/
"""

import ipaddress
from enum import Enum
from typing import NamedTuple

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Reach(Enum):
    """The registry's "Globally Reachable" column."""

    GLOBAL = "globally reachable"
    NOT_GLOBAL = "not globally reachable"
    # "N/A" in the registry: reachability is that of the embedded IPv4 address.
    EMBEDDED_IPV4 = "decided by the embedded IPv4 address"


class Block(NamedTuple):
    network: IPNetwork
    name: str
    source: str
    reach: Reach


def _block(cidr: str, name: str, source: str, reach: Reach = Reach.NOT_GLOBAL) -> Block:
    return Block(ipaddress.ip_network(cidr), name, source, reach)


G, E = Reach.GLOBAL, Reach.EMBEDDED_IPV4

# The most specific block containing an address decides (the registry lists globally
# reachable exceptions inside larger blocks, e.g. 192.0.0.9 inside 192.0.0.0/24).
IPV4_BLOCKS = [
    _block("0.0.0.0/8", "This network", "RFC 791"),
    _block("0.0.0.0/32", "This host on this network", "RFC 1122"),
    _block("10.0.0.0/8", "Private-Use", "RFC 1918"),
    _block("100.64.0.0/10", "Shared Address Space (carrier-grade NAT)", "RFC 6598"),
    _block("127.0.0.0/8", "Loopback", "RFC 1122"),
    _block("169.254.0.0/16", "Link Local (cloud metadata services)", "RFC 3927"),
    _block("172.16.0.0/12", "Private-Use", "RFC 1918"),
    _block("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890"),
    _block("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335"),
    _block("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    _block("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", G),
    _block("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", G),
    _block("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880"),
    _block("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880"),
    _block("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
    _block("192.31.196.0/24", "AS112-v4", "RFC 7535", G),
    _block("192.52.193.0/24", "AMT", "RFC 7450", G),
    _block("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    _block("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751"),
    _block("192.168.0.0/16", "Private-Use", "RFC 1918"),
    _block("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", G),
    _block("198.18.0.0/15", "Benchmarking", "RFC 2544"),
    _block("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
    _block("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
    _block("240.0.0.0/4", "Reserved", "RFC 1112"),
    _block("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919"),
    # Not in the special-purpose registry, but never a web server's address.
    _block("224.0.0.0/4", "Multicast", "RFC 5771"),
]

IPV6_BLOCKS = [
    _block("::1/128", "Loopback Address", "RFC 4291"),
    _block("::/128", "Unspecified Address", "RFC 4291"),
    _block("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", E),
    _block("64:ff9b::/96", "IPv4-IPv6 Translat. (NAT64 well-known prefix)", "RFC 6052", E),
    # Local-use NAT64 may put the IPv4 address at any RFC 6052 position: refused outright.
    _block("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local-use NAT64)", "RFC 8215"),
    _block("100::/64", "Discard-Only Address Block", "RFC 6666"),
    _block("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
    _block("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
    # Teredo is "N/A" in the registry; refused outright (as by is_global): a Teredo address
    # is reached through whatever relay is nearest, which we cannot vouch for.
    _block("2001::/32", "TEREDO", "RFC 4380, RFC 8190"),
    _block("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", G),
    _block("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", G),
    _block("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", G),
    _block("2001:2::/48", "Benchmarking", "RFC 5180"),
    _block("2001:3::/32", "AMT", "RFC 7450", G),
    _block("2001:4:112::/48", "AS112-v6", "RFC 7535", G),
    _block("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
    _block("2001:20::/28", "ORCHIDv2", "RFC 7343", G),
    _block("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs)", "RFC 9374", G),
    _block("2001:db8::/32", "Documentation", "RFC 3849"),
    _block("2002::/16", "6to4", "RFC 3056", E),
    _block("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", G),
    _block("3fff::/20", "Documentation", "RFC 9637"),
    _block("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
    _block("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190"),
    _block("fe80::/10", "Link-Local Unicast", "RFC 4291"),
    # Not in the special-purpose registry, but never a web server's address.
    _block("::/96", "IPv4-compatible (deprecated)", "RFC 4291 2.5.5.1", E),
    _block("::ffff:0:0:0/96", "IPv4-translated (obsolete)", "RFC 2765", E),
    _block("fec0::/10", "Site-local (deprecated)", "RFC 3879"),
    _block("ff00::/8", "Multicast", "RFC 4291"),
]

# IANA's IPv6 Address Space registry: 2000::/3 is the only block allocated as global unicast;
# outside it, only the IPv4-embedding forms above can be public.
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

# NAT64 (RFC 6052) and the IPv4-compatible and -translated forms: the last 32 bits.
_LAST_32_BITS_FORMS = [
    block.network
    for block in IPV6_BLOCKS
    if block.reach is Reach.EMBEDDED_IPV4 and block.network.prefixlen == 96
]


def registry_block(ip: IPAddress) -> Block | None:
    """The most specific block of the tables above that contains ``ip``, if any."""
    blocks = IPV4_BLOCKS if ip.version == 4 else IPV6_BLOCKS
    containing = [block for block in blocks if ip in block.network]
    return max(containing, key=lambda block: block.network.prefixlen, default=None)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address embeds: the last 32 bits of the mapped, compatible,
    translated and NAT64 forms; 6to4's gateway; Teredo's server and client."""
    embedded = [ip.sixtofour, *(ip.teredo or ())]
    if any(ip in network for network in _LAST_32_BITS_FORMS):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in embedded if address is not None]


def is_public_address(address: str) -> bool:
    """Whether a connection to ``address`` (IPv4 or IPv6, with or without ``%zone``) reaches
    the public internet and nothing else."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    block = registry_block(ip)
    if block is not None and block.reach is Reach.NOT_GLOBAL:
        return False
    if ip.version == 6:
        embedded = embedded_ipv4(ip)
        if any(not is_public_address(str(ipv4)) for ipv4 in embedded):
            return False
        if block is not None and block.reach is Reach.EMBEDDED_IPV4:
            # The registry's "N/A": as public as the IPv4 address it stands for.
            return bool(embedded)
        if ip not in GLOBAL_UNICAST:
            return False
    # Python's own table, as a second opinion (it may know blocks added after ours).
    return ip.is_global and not ip.is_multicast
