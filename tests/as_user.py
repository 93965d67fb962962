"""Run the mdm-console CLI as another OS user: `python -m tests.as_user USER ARGS...` (started as root).

The interpreter may live where only root can read it (a pyenv under /root), so the modules the commands use
are imported first and only then does the process become USER (setgroups, setgid, setuid): from then on the
kernel, and so the service's SO_PEERCRED, knows it as USER and nothing else."""

from __future__ import annotations

import os
import pwd
import sys


def main() -> int:
    user, argv = sys.argv[1], sys.argv[2:]
    import aiohttp  # noqa: F401 - everything the client path imports lazily, while root can still read it

    import mdm_console.api.models
    import mdm_console.api.ops
    import mdm_console.api.paths
    import mdm_console.cli.main as cli
    import mdm_console.client.remote
    import mdm_console.plan.load
    import mdm_console.textsafe  # noqa: F401

    import mdm_console.cli.status
    import mdm_console.engine.core
    import mdm_console.store.errors
    import mdm_console.store.session  # noqa: F401 - the path of a command that opens the session itself

    for name in ("idna", "encodings.idna", "json.decoder", "email.parser", "http.cookies", "difflib",
                 "concurrent.futures.thread", "concurrent.futures.process", "asyncio.unix_events",
                 "encodings.ascii", "mdm_console.api.peer", "grp", "struct"):
        __import__(name)
    pw = pwd.getpwnam(user)
    os.setgroups(os.getgrouplist(user, pw.pw_gid))
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
