"""Load generator of `decnet bench ssh-auth`: CONNS parallel SSH connections to
HOST:PORT, each sending wrong passwords for USER until the server closes it,
then reconnecting, until DURATION seconds have passed. Prints one JSON line:
attempts answered, connections made, errors. Runs as a child process so its
CPU is not counted as the server's.

Host keys are asked for in the order OpenSSH's client, libssh and paramiko
use (Ed25519 first), as the brute-force tools built on them do; asyncssh's
own default asks for RSA first, which few bots do."""
import asyncio
import json
import sys
import time

import asyncssh

if sys.argv[1] == "--warm-up":
    # One key exchange that asks for the RSA host key, which a decky makes
    # once when it starts: the caller waits for it so that one-off cost is
    # not counted as the cost of the attempts.
    asyncio.run(asyncssh.get_server_host_key(
        sys.argv[2], int(sys.argv[3]), server_host_key_algs=["rsa-sha2-512", "ssh-ed25519"]))
    sys.exit(0)

host, port, user, conns, duration, tag = (
    sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
deadline = time.monotonic() + duration
stats = {"attempts": 0, "connections": 0, "errors": 0}
HOST_KEY_ALGS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]


class Client(asyncssh.SSHClient):
    def __init__(self, worker):
        self.worker = worker
        self.n = 0

    def password_auth_requested(self):
        # Every request after the first is the answer to a refused attempt.
        if self.n > 0:
            stats["attempts"] += 1
        if time.monotonic() >= deadline:
            return None
        self.n += 1
        return f"bench-{tag}-{self.worker}-{self.n}"


async def worker(w):
    while time.monotonic() < deadline:
        try:
            conn = await asyncssh.connect(
                host, port, username=user, known_hosts=None,
                client_factory=lambda: Client(w), preferred_auth="password",
                client_keys=None, agent_path=None, login_timeout=60,
                server_host_key_algs=HOST_KEY_ALGS)
            conn.close()
        except asyncssh.PermissionDenied:
            pass
        except asyncssh.DisconnectError as e:
            # OpenSSH's MaxAuthTries: the server answers the last refused
            # attempt by closing, as sshd does; that is an answer, not an error.
            if e.reason.startswith("Too many authentication failures"):
                stats["attempts"] += 1
            elif time.monotonic() < deadline:
                stats["errors"] += 1
                await asyncio.sleep(0.05)
        except (OSError, asyncssh.Error, asyncio.TimeoutError):
            # Connections cut by the deadline are not the server's fault.
            if time.monotonic() < deadline:
                stats["errors"] += 1
            await asyncio.sleep(0.05)
        stats["connections"] += 1


async def main():
    await asyncio.gather(*(worker(w) for w in range(conns)))


asyncio.run(main())
print(json.dumps(stats), flush=True)
