"""ncclient against dmvpnd's NETCONF server: what an operator's script does.

Usage: ncclient_session.py HOST PORT USER PASSWORD RO_USER RO_PASSWORD TUNNEL
Each check raises (exit status 1) with what it saw; the last line printed
is "ok".
"""
import sys

from ncclient import manager
from ncclient.operations import RPCError

host, port, user, password, ro_user, ro_password, tunnel = sys.argv[1:8]
port = int(port)

NHRP = "urn:dmvpn:yang:dmvpn-nhrp"
IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"


def connect(name, secret):
    return manager.connect(
        host=host,
        port=port,
        username=name,
        password=secret,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
    )


def holding_time(value):
    return f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <interfaces xmlns="{IF}"><interface><name>{tunnel}</name>
    <nhrp xmlns="{NHRP}"><holding-time>{value}</holding-time></nhrp>
  </interface></interfaces></config>"""


def running_holding_time(m):
    subtree = f"""<interfaces xmlns="{IF}"><interface><name>{tunnel}</name>
      <nhrp xmlns="{NHRP}"><holding-time/></nhrp></interface></interfaces>"""
    reply = m.get_config(source="running", filter=("subtree", subtree))
    found = reply.data_ele.xpath(
        "//n:holding-time", namespaces={"n": NHRP})
    return found[0].text if found else None


with connect(user, password) as m:
    caps = list(m.server_capabilities)
    for wanted in [
        "urn:ietf:params:netconf:base:1.1",
        "urn:ietf:params:netconf:capability:candidate:1.0",
        "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
        "urn:ietf:params:netconf:capability:validate:1.1",
    ]:
        assert any(c.startswith(wanted) for c in caps), (wanted, caps)
    print("capabilities:", len(caps))

    config = m.get_config(source="running").data_xml
    assert tunnel in config, config
    print("get-config: running has", tunnel)

    # Edit the candidate, validate, commit confirmed, then confirm.
    m.edit_config(target="candidate", config=holding_time(300))
    m.validate(source="candidate")
    m.commit(confirmed=True, timeout="60")
    assert running_holding_time(m) == "300", running_holding_time(m)
    m.commit()
    print("commit confirmed then confirmed: holding-time 300")

    # Out of range: an rpc-error naming the leaf.
    try:
        m.edit_config(target="candidate", config=holding_time(0))
        m.commit()
        raise AssertionError("holding-time 0 was accepted")
    except RPCError as error:
        assert "holding-time" in (error.path or "") + (error.message or ""), (
            error.path, error.message, error.xml)
        print("out of range refused at", error.path)
    m.discard_changes()
    assert running_holding_time(m) == "300"

    # Lock contention between two sessions.
    with connect(user, password) as other:
        m.lock(target="running")
        try:
            other.lock(target="running")
            raise AssertionError("a second lock was granted")
        except RPCError as error:
            assert error.tag == "lock-denied", (error.tag, error.xml)
        try:
            other.edit_config(target="running", config=holding_time(400))
            raise AssertionError("an edit went through another's lock")
        except RPCError as error:
            assert error.tag in ("in-use", "lock-denied"), (error.tag, error.xml)
        m.unlock(target="running")
        other.lock(target="running")
        other.unlock(target="running")
    print("lock contention: refused while held, granted after")

    schema = m.get_schema("dmvpn-nhrp")
    assert "module dmvpn-nhrp" in schema.data, schema.data[:200]
    print("get-schema dmvpn-nhrp:", len(schema.data), "characters")

# A read-only user reads and may not write.
with connect(ro_user, ro_password) as m:
    assert tunnel in m.get_config(source="running").data_xml
    try:
        m.edit_config(target="candidate", config=holding_time(500))
        raise AssertionError("a read-only user edited")
    except RPCError as error:
        assert error.tag == "access-denied", (error.tag, error.xml)
    print("read-only user: get-config yes, edit-config access-denied")

print("ok")
