#!/usr/bin/env python3
"""Drive a tun device as a peer would, for the live capture tests.

Usage: tun.py IFNAME COUNT OUT.json

Opens the (persistent) tun device IFNAME, waits for a line on stdin (the
capture is attached), writes COUNT IPv4 and COUNT IPv6 UDP packets into it
(the kernel receives them: the device's ingress), then reads what the kernel
sends out of it (its egress: ICMP port unreachable replies, and whatever else
the stack sends) until it has been idle for half a second. Writes
{"written": [hex, ...], "read": [hex, ...]} to OUT.json. Standard library
only, so it runs with the system Python.
"""
import fcntl
import json
import os
import select
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def udp4(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 17, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def udp6(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    pseudo = src + dst + struct.pack("!I3xB", length, 17)
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    hdr = struct.pack("!IHBB16s16s", 6 << 28, length, 17, 64, src, dst)
    return hdr + udp


def main():
    name, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    print("ready", flush=True)
    sys.stdin.readline()
    written = []
    for i in range(count):
        payload = bytes([i % 256]) * (10 + (i * 37) % 900)
        src4 = bytes([198, 51, 100, 2 + i % 50])
        written.append(udp4(src4, bytes([192, 0, 2, 1]), 40000 + i, 9, payload))
        src6 = bytes.fromhex("20010db8000100000000000000000000")[:15] + bytes([2 + i % 50])
        dst6 = bytes.fromhex("20010db8000000000000000000000001")
        written.append(udp6(src6, dst6, 40000 + i, 9, payload))
    for p in written:
        os.write(fd, p)
    read = []
    while True:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            break
        read.append(os.read(fd, 65535))
    with open(out, "w") as f:
        json.dump({"written": [p.hex() for p in written], "read": [p.hex() for p in read]}, f)


main()
