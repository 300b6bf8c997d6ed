"""Servers a test starts itself (an SMTP server thread, gunicorn, pgbouncer): a free port on
127.0.0.1, and stopping a process for sure."""
import socket
import subprocess


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, *, grace: float = 10) -> None:
    """SIGTERM, `grace` seconds to finish, then SIGKILL."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
