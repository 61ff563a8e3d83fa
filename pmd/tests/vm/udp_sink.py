#!/usr/bin/env python3
"""Host-side receiver for sp-vm-udp: counts datagrams on 127.0.0.1:PORT (QEMU's user
network delivers the guest's datagrams for 10.0.2.2 there), checks each one's pattern
(8-byte little-endian seq, then byte i = (seq + i) & 0xff) and prints one JSON line
when it gets SIGTERM or SIGINT."""
import json, signal, socket, struct, sys

port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# SO_RCVBUFFORCE (root) passes net.core.rmem_max for this socket only: the guest's burst
# must not be lost in our own queue while this script is slow to read it.
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
s.bind(("127.0.0.1", port))
s.settimeout(0.2)
# SO_RXQ_OVFL: each datagram carries how many this socket has dropped so far, so a loss
# on this (loaded, shared) host is told apart from a loss on the path.
SO_RXQ_OVFL = 40
s.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
stats = {"datagrams": 0, "bytes": 0, "bad": 0, "dups": 0, "max_seq": -1, "socket_drops": 0}
seen = set()
stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
print("udp-sink: listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
while not stop:
    try:
        d, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(4))
    except (socket.timeout, InterruptedError):
        continue
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
            stats["socket_drops"] = struct.unpack("I", data[:4])[0]
    if len(d) < 8:
        stats["bad"] += 1
        continue
    seq = struct.unpack("<Q", d[:8])[0]
    if seq == (1 << 64) - 1:
        continue  # the sender's first datagram, which resolves the gateway's MAC
    if any(d[i] != (seq + i) & 0xff for i in range(8, len(d))):
        stats["bad"] += 1
    stats["datagrams"] += 1
    stats["bytes"] += len(d)
    if seq in seen:
        stats["dups"] += 1
    seen.add(seq)
    stats["max_seq"] = max(stats["max_seq"], seq)
stats["unique"] = len(seen)
print(json.dumps(stats), flush=True)
