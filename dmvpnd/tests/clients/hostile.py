"""Hostile NETCONF clients: each refused, none harming the server.

Usage: hostile.py HOST PORT USER PASSWORD RO_USER RO_PASSWORD CONNECTIONS
Prints one line per check; the last is "ok". Exit status 1 on a check
that failed.
"""
import asyncio
import resource
import socket
import sys
import time

import paramiko

host, port, user, password, ro_user, ro_password, connections = sys.argv[1:8]
port, connections = int(port), int(connections)
# One descriptor per attempt, all at once.
resource.setrlimit(resource.RLIMIT_NOFILE, (connections + 256, connections + 256))
EOM = b"]]>]]>"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
HELLO = (f'<hello xmlns="{BASE}"><capabilities>'
         f'<capability>urn:ietf:params:netconf:base:1.0</capability>'
         f'</capabilities></hello>').encode() + EOM


def login(name, secret):
    transport = paramiko.Transport((host, port))
    transport.connect(username=name, password=secret)
    return transport


def refused(name, secret):
    try:
        login(name, secret).close()
    except paramiko.AuthenticationException:
        return True
    return False


def channel(transport):
    chan = transport.open_session()
    chan.settimeout(20)
    chan.invoke_subsystem("netconf")
    return chan


def read_message(chan):
    data = b""
    while EOM not in data:
        piece = chan.recv(65536)
        if not piece:
            raise AssertionError(f"closed after {data!r}")
        data += piece
    return data.split(EOM)[0].decode()


assert refused(user, password + "x"), "a wrong password was accepted"
assert refused("mallory", password), "an unknown user was accepted"
print("wrong password and unknown user: refused")

# Malformed XML: an rpc-error, and the same session still answers.
transport = login(user, password)
chan = channel(transport)
assert "<hello" in read_message(chan)
chan.sendall(HELLO)
chan.sendall(f'<rpc message-id="1" xmlns="{BASE}"><get-config><source><running/>'
             .encode() + b"</get-config></rpc>" + EOM)
reply = read_message(chan)
assert "rpc-error" in reply and "malformed-message" in reply, reply
chan.sendall(f'<rpc message-id="2" xmlns="{BASE}"><get-config><source><running/>'
             f'</source></get-config></rpc>'.encode() + EOM)
reply = read_message(chan)
assert 'message-id="2"' in reply and "<data" in reply, reply
print("malformed XML: rpc-error malformed-message, session goes on")

# A message without its end marker, then the client goes away.
chan.sendall(f'<rpc message-id="3" xmlns="{BASE}"><get/></rpc>'.encode())
time.sleep(0.2)
chan.close()
transport.close()
print("message without end marker: client gone")

# A read-only user may read but not write (edit, lock, RPCs).
transport = login(ro_user, ro_password)
chan = channel(transport)
read_message(chan)
chan.sendall(HELLO)
chan.sendall(f'<rpc message-id="4" xmlns="{BASE}"><lock><target><running/></target></lock></rpc>'
             .encode() + EOM)
reply = read_message(chan)
assert "access-denied" in reply, reply
transport.close()
print("read-only lock: access-denied")


async def attempt(n):
    """A connection that says hello in SSH and then nothing (or garbage)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        writer.write(b"SSH-2.0-hostile\r\n" if n % 2 else b"\x00" * 64 + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()
        return True
    except (OSError, asyncio.TimeoutError):
        return False


async def storm():
    return await asyncio.gather(*(attempt(n) for n in range(connections)))


results = asyncio.run(storm())
print(f"{connections} concurrent session attempts: {sum(results)} connected")
# The storm reached the server (loopback: every attempt connects), or the
# check after it would prove nothing.
assert sum(results) >= connections * 9 // 10, sum(results)
print("ok")
