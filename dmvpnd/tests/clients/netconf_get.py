"""Prints the reply of a NETCONF <get> with an XPath filter.

Usage: netconf_get.py HOST PORT USER PASSWORD XPATH
"""
import sys

from ncclient import manager

host, port, user, password, xpath = sys.argv[1:6]
with manager.connect(host=host, port=int(port), username=user, password=password,
                     hostkey_verify=False, allow_agent=False, look_for_keys=False,
                     timeout=30) as m:
    print(m.get(filter=("xpath", xpath)).data_xml)
