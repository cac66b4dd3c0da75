"""A single-node Elasticsearch run from Elastic's integ-test zip.

Elasticsearch will not run as root. When we are root it runs as the system account
SERVICE_USER, and its files live under SERVICE_HOME instead of the state and cache dirs,
because those default to root's home, which that account cannot enter.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from pipeline.stack import process
from pipeline.stack.config import SERVICE_HOME, SERVICE_USER, StackConfig, es_url
from pipeline.stack.maven import es_zip_path, is_complete, mark_complete
from pipeline.stack.tools import require_java

NAME = "elasticsearch"


@dataclass(frozen=True)
class Layout:
    es_home: Path  # the unpacked distribution, shared by stacks of the same version
    base: Path  # this stack's config, data, logs and tmp

    @property
    def config_dir(self) -> Path:
        return self.base / "config"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def logs_dir(self) -> Path:
        return self.base / "logs"

    @property
    def tmp_dir(self) -> Path:
        return self.base / "tmp"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"


def runs_as_service_user() -> bool:
    return os.geteuid() == 0


def stack_key(state_dir: Path) -> str:
    """Short stable name for a state dir, so two stacks never share ES data."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


def layout(cfg: StackConfig) -> Layout:
    dist_name = f"elasticsearch-{cfg.es_version}"
    if runs_as_service_user():
        return Layout(
            es_home=SERVICE_HOME / "dist" / dist_name,
            base=SERVICE_HOME / "stacks" / stack_key(cfg.state_dir),
        )
    return Layout(es_home=cfg.cache_dir / dist_name, base=cfg.state_dir / NAME)


def pid_file(cfg: StackConfig) -> Path:
    return cfg.state_dir / "run" / "elasticsearch.pid"


def marker(cfg: StackConfig) -> str:
    """Text in the ES command line that ties the process to this stack."""
    return f"-Des.path.conf={layout(cfg).config_dir}"


def render_config(cfg: StackConfig, lay: Layout, template: str) -> str:
    return Template(template).substitute(
        data_dir=lay.data_dir,
        logs_dir=lay.logs_dir,
        http_port=cfg.es_port,
        transport_port=cfg.es_transport_port,
    )


def java_opts(cfg: StackConfig) -> str:
    return f"-Xms{cfg.es_heap} -Xmx{cfg.es_heap}"


def unpack(zip_path: Path, es_home: Path) -> None:
    """Unzip the distribution into es_home, keeping the scripts' executable bits."""
    if is_complete(es_home):
        return
    scratch = es_home.with_name(es_home.name + ".unpacking")
    shutil.rmtree(scratch, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            extracted = Path(archive.extract(info, scratch))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                extracted.chmod(mode)
    (top,) = list(scratch.iterdir())  # the zip holds one folder: elasticsearch-<version>/
    shutil.rmtree(es_home, ignore_errors=True)
    top.rename(es_home)
    scratch.rmdir()
    mark_complete(es_home)


def install(cfg: StackConfig) -> Layout:
    """Unpack the fetched zip where the ES process will be able to read it."""
    lay = layout(cfg)
    if runs_as_service_user():
        ensure_service_account()
    lay.es_home.parent.mkdir(parents=True, exist_ok=True)
    unpack(es_zip_path(cfg), lay.es_home)
    return lay


def ensure_service_account() -> pwd.struct_passwd:
    """Create (once) the unprivileged system account ES runs as when we are root."""
    try:
        account = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home",
             "--home-dir", str(SERVICE_HOME), "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        account = pwd.getpwnam(SERVICE_USER)
    SERVICE_HOME.mkdir(parents=True, exist_ok=True)
    os.chown(SERVICE_HOME, account.pw_uid, account.pw_gid)
    SERVICE_HOME.chmod(0o755)
    return account


def write_config(cfg: StackConfig, lay: Layout) -> None:
    for directory in (lay.config_dir, lay.data_dir, lay.logs_dir, lay.tmp_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # jvm.options, log4j2.properties etc. come from the distribution; the keystore that ES
    # creates in the config dir on first start is left alone.
    for source in (lay.es_home / "config").iterdir():
        if source.is_file() and source.name != "elasticsearch.yml":
            shutil.copy2(source, lay.config_dir / source.name)
    template = (cfg.deploy_dir / "elasticsearch" / "elasticsearch.yml.template").read_text()
    (lay.config_dir / "elasticsearch.yml").write_text(render_config(cfg, lay, template))


def give_to(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
    os.chown(path, uid, gid)


def link_into_state_dir(cfg: StackConfig, lay: Layout) -> None:
    """Make the ES files findable from the state dir when they live elsewhere."""
    link = cfg.state_dir / NAME
    if lay.base != link and not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(lay.base)


def environment(cfg: StackConfig, lay: Layout) -> dict[str, str]:
    java = require_java(cfg.java21_home, 21, "Elasticsearch 9")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "JAVA_"))}
    env.update(
        ES_JAVA_HOME=str(java.parent.parent),
        ES_PATH_CONF=str(lay.config_dir),
        ES_JAVA_OPTS=java_opts(cfg),
        ES_TMPDIR=str(lay.tmp_dir),
        HOME=str(lay.base),
    )
    return env


def start(cfg: StackConfig) -> int:
    lay = install(cfg)
    write_config(cfg, lay)
    run_as = None
    if runs_as_service_user():
        account = ensure_service_account()
        give_to(lay.base, account.pw_uid, account.pw_gid)
        run_as = process.RunAs(account.pw_uid, account.pw_gid)
    link_into_state_dir(cfg, lay)
    argv = [str(lay.es_home / "bin" / "elasticsearch")]
    pid = process.spawn(
        argv, log_file=lay.console_log, env=environment(cfg, lay), cwd=lay.base, run_as=run_as
    )
    pid_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    pid_file(cfg).write_text(f"{pid}\n")
    return pid


def running_pid(cfg: StackConfig) -> int | None:
    """The recorded launcher pid (its process group holds the server JVM) if still ours.

    The launcher script execs the ES CLI JVM, which forks the server JVM and stays
    alive as its parent, so the marker is checked on the recorded pid itself.
    """
    return process.owned_pid(pid_file(cfg), marker(cfg))


def get_json(cfg: StackConfig, path: str, timeout_s: float = 3.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(es_url(cfg) + path, timeout=timeout_s) as response:
            body: dict[str, Any] = json.load(response)
            return body
    except (OSError, urllib.error.URLError, ValueError):
        return None


def cluster_health(cfg: StackConfig) -> str | None:
    """'green', 'yellow' or 'red'; None while ES does not answer HTTP."""
    body = get_json(cfg, "/_cluster/health")
    return str(body["status"]) if body and "status" in body else None


def server_version(cfg: StackConfig) -> str | None:
    body = get_json(cfg, "/")
    return str(body["version"]["number"]) if body and "version" in body else None
