"""Network guard for the Python reference clients (azure.identity, az).

The specs put this folder on PYTHONPATH, so Python imports it at start-up. An
audit hook refuses every name lookup or connection that is not loopback, and
says so on stderr with the marker AZMI-NETWORK-GUARD, which the specs assert
never appears. This makes "the clients only ever reach loopback" a checked
fact, not a hope: az, for one, asks azure.microsoft.com for connectivity on
its first run in a new config folder. AZMI_NETWORK_GUARD_ALLOW (comma list)
admits more addresses; the netns spec uses it for 169.254.169.254, which there
lives on the namespace's own loopback interface.
"""
import ipaddress
import os
import sys
import traceback

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
# Only for runs inside a test network namespace, where e.g. 169.254.169.254 is an address on its own lo.
_ALLOWED = {h.strip() for h in os.environ.get("AZMI_NETWORK_GUARD_ALLOW", "").split(",") if h.strip()}


def _is_loopback(host):
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard, no lookup
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES or host in _ALLOWED:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(event, args):
    host = None
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):
            return  # AF_UNIX path
        host = address[0]
    elif event == "socket.gethostbyname":
        host = args[0]
    else:
        return
    if not _is_loopback(host):
        stack = "".join(traceback.format_stack(limit=8))
        sys.stderr.write("AZMI-NETWORK-GUARD blocked %s to %r\n%s" % (event, host, stack))
        raise OSError("AZMI-NETWORK-GUARD: %s to %r refused (tests reach loopback only)" % (event, host))


sys.addaudithook(_guard)
