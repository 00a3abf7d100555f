#!/usr/bin/env python3
"""A digest password guesser against a running agent, on loopback, bounded in time: the
figures of docs/security.md (the brake on guessing).

    python3 scripts/guess.py PORT [--ports N] [--addrs N] [--seconds S] [--position P]

The agent runs with the challenge on and one credential (auth_id 1001, password "secret"),
e.g. with this agent.toml, `sip-resync run --config agent.toml --state-dir DIR`:

    [sip]
    listen = ["udp:127.0.0.1:15060"]
    [sip.auth]
    challenge = true
    [[sip.auth.credentials]]
    user = "1001"
    auth_id = "1001"
    password = "secret"
    [provisioning]
    files = [{ url = "http://127.0.0.1:9/master.cfg" }]
    fetch_at_startup = false

Restart the agent between runs: its failure counts persist while it runs.

Each socket (N source ports on each of the source addresses 127.0.0.1, 127.0.0.2, ...)
takes the next password of a list whose entry at --position is the right one ("secret", user
1001), asks for a nonce (a NOTIFY without credentials) and answers it, stop-and-wait, resending
after 0.5 s without an answer (a dropped guess teaches nothing). It prints the guesses
answered (401 or 200), guesses/s, and when the right password got its 200.
"""
import argparse, hashlib, os, select, socket, time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--ports", type=int, default=1)
ap.add_argument("--addrs", type=int, default=1)
ap.add_argument("--seconds", type=float, default=20)
ap.add_argument("--position", type=int, default=300)
a = ap.parse_args()
URI = "sip:1001@127.0.0.1"
REALM = "sip-resync"
md5 = lambda s: hashlib.md5(s.encode()).hexdigest()

def notify(sock, n, auth=None):
    host, port = sock.getsockname()
    h = f"Authorization: {auth}\r\n" if auth else ""
    return (f"NOTIFY {URI} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{os.urandom(6).hex()}\r\n"
            f"From: <sip:pbx@{host}>;tag={port}\r\nTo: <{URI}>\r\nCall-ID: g{n}-{port}@{host}\r\nCSeq: {n} NOTIFY\r\n"
            f"Event: check-sync\r\n{h}Content-Length: 0\r\n\r\n").encode()

def answer(nonce, pw):
    ha1 = md5(f"1001:{REALM}:{pw}"); ha2 = md5(f"NOTIFY:{URI}")
    r = md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}")
    return (f'Digest username="1001", realm="{REALM}", nonce="{nonce}", uri="{URI}", '
            f'response="{r}", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001')

socks = []
for i in range(a.addrs):
    for _ in range(a.ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.0.{i + 1}", 0)); s.setblocking(False); socks.append(s)
target = ("127.0.0.1", a.port)
state = {}  # sock -> [phase, guess index, payload, sent at, nonce]
nxt, seq, answered, found_at = 1, 0, 0, None
t0 = time.monotonic()

def send(s, st):
    s.sendto(st[2], target); st[3] = time.monotonic()

def start(s):
    global seq
    seq += 1
    st = ["nonce", None, notify(s, seq), 0, None]
    state[s] = st; send(s, st)

for s in socks: start(s)
while time.monotonic() - t0 < a.seconds and found_at is None:
    r, _, _ = select.select(socks, [], [], 0.05)
    now = time.monotonic()
    for s in r:
        try: data = s.recv(65535).decode(errors="replace")
        except BlockingIOError: continue
        st = state[s]; code = data.split(" ", 2)[1]
        if st[0] == "nonce":
            if code != "401": continue
            st[4] = data.split('nonce="', 1)[1].split('"', 1)[0]
        else:
            answered += 1
            if code == "200": found_at = now - t0; break
        pos = nxt; nxt += 1; seq += 1
        pw = "secret" if pos == a.position else f"wrong{pos}"
        st[0], st[1], st[2] = "guess", pos, notify(s, seq, answer(st[4], pw)); send(s, st)
    for s, st in state.items():
        if now - st[3] > 0.5: send(s, st)
el = time.monotonic() - t0
print(f"sockets={len(socks)} ({a.addrs} addresses x {a.ports} ports) elapsed={el:.1f}s answered={answered} "
      f"rate={answered / el:.1f}/s position{a.position}=" + (f"{found_at:.1f}s" if found_at else "not reached"))
