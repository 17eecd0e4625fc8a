"""Retransmission timeout estimation per RFC 6298.

`RttEstimator` keeps SRTT and RTTVAR and turns them into the retransmission timeout (RTO),
with exponential backoff on expiry. It holds no timer: the TCP session arms its own timer
for `rto` seconds and calls `backoff()` when it fires.

Karn's algorithm (RFC 6298 §3, RFC 9293 §3.8.1) is the caller's job: never call
`on_sample()` with a measurement taken from a segment that was retransmitted, because the
ACK cannot be matched to one transmission. The backoff survives until a sample from a
segment sent once arrives, which is why `on_sample()` is what clears it (RFC 6298 §5.7).
"""

from __future__ import annotations

__all__ = ["RttEstimator"]

# RFC 6298 §2: the constants of the estimator.
ALPHA = 1 / 8
BETA = 1 / 4
K = 4
# RFC 6298 §5.7: the RTO after a lost SYN when no sample exists once data flows.
RTO_AFTER_LOST_SYN = 3.0


class RttEstimator:
    """SRTT/RTTVAR and the RTO they give, per RFC 6298.

    ``initial_rto`` is the RTO before any sample (§2.1, 1 s). ``min_rto`` bounds the
    computed RTO from below (§2.4: SHOULD be 1 s; lower it in tests or LANs knowingly).
    ``max_rto`` caps it, backoff included (§2.5: at least 60 s). ``granularity`` is the
    clock granularity G of §2 (the term that keeps RTO above SRTT when RTTVAR is ~0).
    """

    __slots__ = ("_backoffs", "_base_rto", "granularity", "max_rto", "min_rto", "rttvar", "srtt")

    def __init__(
        self,
        *,
        initial_rto: float = 1.0,
        min_rto: float = 1.0,
        max_rto: float = 60.0,
        granularity: float = 0.001,
    ) -> None:
        if not 0 < min_rto <= max_rto:
            raise ValueError(f"need 0 < min_rto <= max_rto, got {min_rto} and {max_rto}")
        if initial_rto <= 0 or granularity <= 0:
            raise ValueError("initial_rto and granularity must be positive")
        self.min_rto = min_rto
        self.max_rto = max_rto
        self.granularity = granularity
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self._base_rto = min(initial_rto, max_rto)
        self._backoffs = 0

    @property
    def rto(self) -> float:
        """The current retransmission timeout in seconds, backoff included."""
        return min(self._base_rto * (2**self._backoffs), self.max_rto)

    @property
    def backoffs(self) -> int:
        """How many times the timer backed off since the last valid sample."""
        return self._backoffs

    def on_sample(self, rtt: float) -> float:
        """Feed one RTT measurement (seconds) from a segment sent exactly once; returns RTO.

        Clears the backoff: a fresh measurement means the path answers again (§5.7).
        """
        if rtt < 0:
            raise ValueError(f"an RTT sample cannot be negative: {rtt}")
        if self.srtt is None or self.rttvar is None:
            # RFC 6298 §2.2: the first measurement.
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            # RFC 6298 §2.3: RTTVAR is updated with the old SRTT, then SRTT.
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        computed = self.srtt + max(self.granularity, K * self.rttvar)
        # RFC 6298 §2.4 (minimum) and §2.5 (maximum).
        self._base_rto = min(max(computed, self.min_rto), self.max_rto)
        self._backoffs = 0
        return self.rto

    def backoff(self) -> float:
        """The retransmission timer expired: double the RTO (§5.5), up to ``max_rto``."""
        if self.rto < self.max_rto:
            self._backoffs += 1
        return self.rto

    def begin_data_transfer(self, syn_was_retransmitted: bool) -> None:
        """Call once the handshake completes.

        RFC 6298 §5.7: if the SYN (or SYN,ACK) timed out and no sample was taken, the RTO
        MUST be re-initialised to 3 seconds when data transmission begins.
        """
        self._backoffs = 0
        if syn_was_retransmitted and self.srtt is None:
            self._base_rto = min(max(RTO_AFTER_LOST_SYN, self.min_rto), self.max_rto)

    def __repr__(self) -> str:
        return (
            f"RttEstimator(srtt={self.srtt}, rttvar={self.rttvar}, rto={self.rto}, "
            f"backoffs={self._backoffs})"
        )
