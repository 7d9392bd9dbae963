#!/usr/bin/env python3
"""Server RSS with many idle connections (docs/benchmarks.md, "io_uring fast paths").

Usage: python3 benches/support/idle_rss.py target/release/deps/echo-<hash> <kind> <conns>

Starts the echo bench binary as a server of <kind> (ringcore, multishot, poll, tokio),
opens <conns> connections, echoes 1 KiB on each, waits 0.5 s and prints the server's
VmRSS against its VmRSS before the first connection.
"""
import os, socket, subprocess, sys, tempfile, time
exe, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = tempfile.mkdtemp()
env = dict(os.environ, ECHO_BENCH_SERVER=kind, ECHO_BENCH_CONTROL=os.path.join(d, "c.sock"))
p = subprocess.Popen([exe, "--bench"], env=env, stdout=subprocess.PIPE, text=True)
line = p.stdout.readline().split()
host, port = line[1].rsplit(":", 1)
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
base = rss()
conns = []
for i in range(n):
    s = socket.create_connection((host, int(port)))
    conns.append(s)
msg = b"x" * 1024
for s in conns:
    s.sendall(msg)
for s in conns:
    got = b""
    while len(got) < len(msg):
        got += s.recv(4096)
time.sleep(0.5)
after = rss()
print(f"{kind}: {n} idle connections after one 1 KiB echo each: VmRSS {after} KiB (at start {base} KiB), {(after-base)*1024/n:.0f} bytes per connection")
p.kill()
