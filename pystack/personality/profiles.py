"""The shipped personalities, with where each value comes from.

Sources (read, not copied): nmap's OS database (``nmap-os-db`` of the Debian nmap
package; entries named below) and p0f's signatures (``/etc/p0f/p0f.fp`` of the Debian
p0f package). An nmap test is quoted as TEST.FIELD=VALUE.
"""

from __future__ import annotations

from pystack.personality.base import Personality

__all__ = ["FREEBSD", "LINUX", "WINDOWS"]

LINUX = Personality(
    name="linux",
    family="Linux",
    description="Linux 5.x: PyStack's own defaults plus DF, Linux's IP ID and windows",
    ttl=64,  # nmap-os-db "Linux 5.0 - 5.4": T1.TG=40; p0f.fp Linux: ittl 64
    tcp_df=True,  # nmap T1.DF=Y; p0f.fp Linux quirks "df,id+"
    icmp_df=False,  # nmap IE.DFI=N, U1.DF=N
    ipid_tcp="per-host",  # p0f.fp "id+": a SYN with DF has a non-zero ID
    ipid_tcp_reply="zero",  # nmap SEQ.TI=Z, CI=Z
    ipid_icmp="per-host",  # nmap SEQ.II=I
    ipid_other="per-host",
    syn_window=64240,  # 44 * 1460, Linux's initial window: nmap-os-db Linux 5.x ECN.W=FAF0
    synack_window=0,  # nmap WIN.W1=FE88 (45 * 1448), ECN.W=FAF0 (44 * 1460)
    wscale=7,  # nmap OPS.O1=M5B4ST11NW7
    option_layout="linux",  # nmap O1=M5B4ST11NW7; p0f.fp "mss,sok,ts,nop,ws"
    client_timestamps=True,
    ts_hz=1000,  # nmap SEQ.TS=A (about 2**10 ticks per second)
    ecn_synack=True,  # nmap ECN.CC=Y
    listen_null="drop",  # nmap T2(R=N)
    listen_syn_fin="drop",  # nmap T3(R=N)
    rst_ack_nonzero=False,  # nmap T4.A=Z, T6.A=Z
    closed_fin_reset=True,  # nmap T7.R=Y in most Linux 4-6 entries
    echo_reply_keeps_code=True,  # nmap IE.CD=S
)

WINDOWS = Personality(
    name="windows",
    family="Windows",
    description="Windows 10 / 11",
    ttl=128,  # nmap-os-db "Microsoft Windows 10": T1.TG=80; p0f.fp Windows: ittl 128
    tcp_df=True,  # nmap T1.DF=Y; p0f.fp Windows quirks "df,id+"
    icmp_df=False,  # nmap IE.DFI=N, U1.DF=N
    ipid_tcp="incremental",  # nmap SEQ.TI=I, CI=I, II=I, SS=S: one shared counter
    ipid_tcp_reply="incremental",
    ipid_icmp="incremental",
    ipid_other="incremental",
    syn_window=8192,  # p0f.fp "Windows 7 or 8": 8192,8
    synack_window=8192,  # nmap WIN.W1=2000 (most Windows 10 entries)
    wscale=8,  # nmap OPS.O1=M5B4NW8ST11; p0f.fp 8192,8
    option_layout="windows",  # nmap O1=M5B4NW8ST11; p0f.fp "mss,nop,ws,nop,nop,sok"
    client_timestamps=False,  # p0f.fp Windows SYNs carry no timestamps
    ts_hz=1000,  # nmap SEQ.TS=A
    ecn_synack=False,  # nmap ECN.CC=N
    listen_null="reset",  # nmap T2(R=Y ... S=Z A=S F=AR)
    listen_syn_fin="reset",  # nmap T3(R=Y ... S=Z A=O F=AR)
    rst_ack_nonzero=True,  # nmap T4 and T6: S=A A=O F=R
    closed_fin_reset=True,  # nmap T7(R=Y ... F=AR)
    echo_reply_keeps_code=False,  # nmap IE.CD=Z
)

FREEBSD = Personality(
    name="freebsd",
    family="FreeBSD",
    description="FreeBSD 12 / 13",
    ttl=64,  # nmap-os-db "FreeBSD 12.0-RELEASE - 13.0-CURRENT": T1.TG=40
    tcp_df=True,  # nmap T1.DF=Y; p0f.fp FreeBSD quirks "df,id+"
    icmp_df=False,  # nmap U1.DF=N
    echo_reply_keeps_df=True,  # nmap IE.DFI=S
    ipid_tcp="per-host",  # p0f.fp "id+" on the SYN
    ipid_tcp_reply="zero",  # nmap SEQ.TI=Z, CI=Z
    ipid_icmp="random-increment",  # nmap SEQ.II=RI
    ipid_other="random-increment",
    syn_window=65535,  # p0f.fp "FreeBSD 9.x or newer": 65535,6
    synack_window=65535,  # nmap WIN.W1=FFFF
    wscale=6,  # nmap OPS.O1=M5B4NW6ST11
    option_layout="bsd",  # nmap O1=M5B4NW6ST11, ECN.O=M5B4NW6SLL; p0f "mss,nop,ws,sok,ts"
    client_timestamps=True,
    ts_hz=1000,
    ts_per_connection=True,  # nmap SEQ.TS=20-22: TSvals unrelated between connections
    ecn_synack=True,  # nmap ECN.CC=Y
    listen_null="drop",  # nmap T2(R=N)
    listen_syn_fin="accept",  # nmap T3(R=Y ... S=O A=S+ F=AS): a SYN,ACK
    rst_ack_nonzero=False,  # nmap T4.A=Z
    closed_fin_reset=True,  # nmap T7(R=Y)
    echo_reply_keeps_code=True,  # nmap IE.CD=S
)
