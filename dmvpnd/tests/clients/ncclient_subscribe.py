"""Waits for one NETCONF notification named on the command line.

Usage: ncclient_subscribe.py HOST PORT USER PASSWORD NAME SECONDS
Prints "subscribed" once the subscription is active, then the notification's
XML, then "ok"; exit status 1 if none came in time.
"""
import sys
import time

from ncclient import manager

host, port, user, password, name, seconds = sys.argv[1:7]
with manager.connect(host=host, port=int(port), username=user, password=password,
                     hostkey_verify=False, allow_agent=False, look_for_keys=False,
                     timeout=30) as m:
    m.create_subscription()
    print("subscribed", flush=True)
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        n = m.take_notification(block=True, timeout=1)
        if n is None:
            continue
        print(n.notification_xml, flush=True)
        if name in n.notification_xml:
            print("ok")
            sys.exit(0)
print(f"no {name} notification within {seconds} s", file=sys.stderr)
sys.exit(1)
