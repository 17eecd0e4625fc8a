"""DNS: the stub resolver and what it runs on.

- :mod:`~pystack.dns.resolver`: the query machine (``machines/dns_query.toml``) and
  :class:`~pystack.dns.resolver.DNSResolver` (UDP with TCP fallback, CNAMEs, errors).
- :mod:`~pystack.dns.cache`: the TTL cache of answers.
- :mod:`~pystack.dns.transport`: the resolver's UDP and TCP transports over a stack
  (:func:`~pystack.dns.transport.resolver_for_stack`) and a tiny server for tests.

The message codec is :mod:`pystack.wire.dns`.
"""
