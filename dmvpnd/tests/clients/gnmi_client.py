"""pygnmi against dmvpnd's gNMI service, one operation per run, results as
JSON on stdout (one object per line) for the Rust test to check.

Usage: gnmi_client.py HOST PORT USER PASSWORD OPERATION [ARGS...]
  capabilities
  get TYPE PATH                      TYPE: all, config, state
  update PATH JSON                   a Set with one update
  delete PATH                        a Set with one delete
  subscribe MODE PATH [INTERVAL_S]   MODE: on_change, sample; streams until killed
Exit status 2 with the error on stderr when the server refuses.
"""
import json
import sys

from pygnmi.client import gNMIclient

host, port, user, password, operation = sys.argv[1:6]
args = sys.argv[6:]


def emit(value):
    print(json.dumps(value, default=str), flush=True)


try:
    with gNMIclient(target=(host, int(port)), username=user, password=password,
                    insecure=True, show_diff=False) as client:
        if operation == "capabilities":
            emit(client.capabilities())
        elif operation == "get":
            datatype, path = args
            emit(client.get(path=[path], datatype=datatype, encoding="json_ietf"))
        elif operation == "update":
            path, value = args
            emit(client.set(update=[(path, json.loads(value))], encoding="json_ietf"))
        elif operation == "delete":
            (path,) = args
            emit(client.set(delete=[path], encoding="json_ietf"))
        elif operation == "subscribe":
            mode, path = args[0], args[1]
            subscription = {"path": path, "mode": mode}
            if mode == "sample":
                subscription["sample_interval"] = int(float(args[2]) * 1e9)
            request = {"subscription": [subscription], "mode": "stream",
                       "encoding": "json_ietf"}
            for response in client.subscribe2(subscribe=request):
                emit(response)
        else:
            raise SystemExit(f"unknown operation {operation}")
except Exception as error:  # the server's refusal, for the test to read
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(2)
