"""The session's local API: HTTP/1.1 over a Unix socket beside the session db.

Whichever process owns the session (`mdm-console serve`, or the console with its engine embedded) serves it;
the CLI and other consoles are its clients (`mdm_console.client`). Every caller is identified by the kernel
(SO_PEERCRED), never by what it says about itself. Layers: `models` (the wire: pydantic bodies shared by
server and client), `ops` (what each request does to an engine, also run in-process when no service runs),
`access` (who may do what), `server` (aiohttp routes, the event stream).
"""
