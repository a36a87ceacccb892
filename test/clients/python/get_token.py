#!/usr/bin/python3
"""Reference client: asks Debian's azure.identity (python3-azure) for one token.

Run with /usr/bin/python3 (pyenv's python3 lacks the package). The mocha specs
in test/clients drive it to check that `azmi serve` works with Python unchanged.

Usage: get_token.py <kind> <resource> [id]
  kind: mi               ManagedIdentityCredential(), system-assigned
        mi-client-id     ManagedIdentityCredential(client_id=<id>)
        mi-config        ManagedIdentityCredential(identity_config={<name>: <value>}), id = "name=value"
        dac              DefaultAzureCredential()
        dac-client-id    DefaultAzureCredential(managed_identity_client_id=<id>)
  resource: e.g. https://management.azure.com (sent as the scope "<resource>/.default")
Output: {"token": ..., "expiresOn": ...} and exit 0, or {"error": ..., "type": ...} and exit 1.
Usage errors exit 2.
"""
import json
import sys


def build(kind, ident):
    # Imported here so a usage error costs nothing.
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if kind == "mi":
        return ManagedIdentityCredential()
    if kind == "mi-client-id":
        return ManagedIdentityCredential(client_id=need(ident, kind))
    if kind == "mi-config":
        name, sep, value = need(ident, kind).partition("=")
        if not sep:
            raise ValueError("kind 'mi-config' needs an id of the form name=value")
        return ManagedIdentityCredential(identity_config={name: value})
    if kind == "dac":
        return DefaultAzureCredential()
    if kind == "dac-client-id":
        return DefaultAzureCredential(managed_identity_client_id=need(ident, kind))
    raise ValueError("unknown credential kind '%s'" % kind)


def need(ident, kind):
    if not ident:
        raise ValueError("kind '%s' needs an id as the third argument" % kind)
    return ident


def main(argv):
    if len(argv) < 3:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    kind, resource = argv[1], argv[2]
    ident = argv[3] if len(argv) > 3 else None
    try:
        credential = build(kind, ident)
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    try:
        token = credential.get_token(resource + "/.default")
    except Exception as e:  # pylint: disable=broad-except
        print(json.dumps({"error": str(e), "type": type(e).__module__ + "." + type(e).__name__}))
        return 1
    print(json.dumps({"token": token.token, "expiresOn": str(token.expires_on)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
