"""The files an operator installs from deploy/: systemd accepts the units as written, the cron lines
run commands that exist through the wrapper with the units' environment file, and the example
environment file names every setting production requires and reads the same in sh as in systemd.
(nginx's site is served for real in test_nginx.py; the reload in test_gunicorn.py.)"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from config import Config
from tests.operations.serving import ROOT

DEPLOY = ROOT / "deploy"
ENV_FILE = "/etc/registry/registry.env"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify` on the units, their /srv and /etc paths pointing at a release laid out
    as docs/operations.md says (this checkout): no unknown key, no bad value, every command there."""
    release = tmp_path / "releases" / "r1"
    release.mkdir(parents=True)
    for entry in ("config", "scripts", "wsgi.py"):
        (release / entry).symlink_to(ROOT / entry)
    (release / ".venv").symlink_to(sys.prefix)
    (tmp_path / "current").symlink_to(release)
    (tmp_path / "registry.env").write_text("REGISTRY_ENV=production\n")
    units = tmp_path / "units"
    units.mkdir()
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/srv/registry/", f"{tmp_path}/").replace(ENV_FILE, str(tmp_path / "registry.env"))
        (units / unit.name).write_text(text)
    gunicorn = release / ".venv" / "bin" / "gunicorn"
    assert gunicorn.exists() and (release / ".venv" / "bin" / "flask").exists()
    result = subprocess.run(["systemd-analyze", "verify", str(units / "registry.service"),
                             str(units / "registry-migrate@r1.service")],
                            cwd=units, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_the_units_run_what_the_docs_say():
    service = (DEPLOY / "systemd" / "registry.service").read_text()
    for line in ("Type=notify", "NotifyAccess=all", "User=registry", f"EnvironmentFile={ENV_FILE}",
                 "GUNICORN_PIDFILE=/run/registry/gunicorn.pid", "Restart=on-failure", "RuntimeDirectory=registry",
                 "ExecReload=/srv/registry/current/scripts/gunicorn-reload.sh /run/registry/gunicorn.pid"):
        assert line in service
    assert "/srv/registry/current/.venv/bin/python /srv/registry/current/.venv/bin/gunicorn" in service
    assert "-c /srv/registry/current/config/gunicorn.py wsgi:app" in service
    assert "make " not in service.split("[Service]")[1] and "-m gunicorn" not in service
    migrate = (DEPLOY / "systemd" / "registry-migrate@.service").read_text()
    assert "Type=oneshot" in migrate and f"EnvironmentFile={ENV_FILE}" in migrate and "db upgrade" in migrate


def test_the_cron_lines_run_existing_commands_with_the_environment_file(app):
    lines = [line for line in (DEPLOY / "cron" / "registry").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    commands = set()
    for line in lines:
        fields = line.split()
        schedule, user, script, env_file, command = fields[:5], fields[5], fields[6], fields[7], fields[8]
        assert all(re.fullmatch(r"[0-9*/,-]+", field) for field in schedule), line
        assert user == "registry" and env_file == ENV_FILE
        assert script == "/srv/registry/current/scripts/registry-task.sh"
        commands.add(command)
    assert commands == {"send-notifications", "lapse-premiums", "sweep-uploads", "publish-open-data"}
    assert commands <= set(app.cli.commands)
    assert os.access(ROOT / "scripts" / "registry-task.sh", os.X_OK)
    assert os.access(ROOT / "scripts" / "gunicorn-reload.sh", os.X_OK)


def test_the_example_environment_file_reads_the_same_in_sh(tmp_path):
    example = (DEPLOY / "registry.env.example").read_text()
    names = re.findall(r"^([A-Z_]+)=", example, re.MULTILINE)
    for required in ("REGISTRY_ENV", "SITE_URL", "DATABASE_URL", "SECRET_KEY", "CERTIFICATE_SIGNING_KEY", "PROXY_HOPS",
                     "UPLOAD_DIR"):
        assert required in names
    settings = set(dir(Config)) | {"REGISTRY_ENV", "DATABASE_URL", "ARGON2_MEMORY_KIB"}
    assert set(names) <= settings
    dumped = subprocess.run(["sh", "-c", 'set -a; . "$1"; set +a; env -0', "sh", str(DEPLOY / "registry.env.example")],
                            env={"PATH": os.environ["PATH"]}, capture_output=True, check=True).stdout.decode()
    env = dict(item.split("=", 1) for item in dumped.split("\0") if "=" in item)
    assert env["MAIL_FROM"] == "ふるさと住民登録 <no-reply@furusato.example.jp>"
    assert env["CERTIFICATE_SIGNING_KEY"].startswith("-----BEGIN PRIVATE KEY-----\\n")  # \n kept for the app
    assert env["REGISTRY_ENV"] == "production" and env["PROXY_HOPS"] == "1"
