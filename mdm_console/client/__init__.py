"""Clients of a session: the way the CLI (and the console, when it attaches) reaches whoever owns the session.

`remote.ServiceClient` talks to the owner's socket; when nobody owns the session, the CLI runs the same
operation (`api.ops`) in its own process on an engine it opens itself.
"""
