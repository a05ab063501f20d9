"""The deployment files (deploy/) agree with each other and with the repository they ship.

Nothing here needs a cluster or a container build (neither is available where the tests run):
the manifests and the Dockerfile are read as text and checked against what the servers read
(endpoints.postgres.yml, credentials.yml, bot/server/serve.py) and how the Makefile builds them, so a
change on either side that would break a rollout fails here first.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
MAKEFILE = ROOT / "Makefile"
SCALE_ENDPOINTS = ROOT / "endpoints.postgres.yml"
CREDENTIALS = ROOT / "credentials.yml"
# Not production resources: kept out of kustomization.yaml on purpose.
DEV_ONLY = {"stores-dev.yaml", "secret.example.yaml"}

ACTIONS_MEMORY_TARGET = 1.5 * 2**30  # the action server's memory target (1.5Gi)
RASA_RESIDENT = 1.6e9  # measured resident size of a loaded Rasa server
ACTIONS_RESIDENT = 0.7e9  # measured resident size of a loaded action server

# Fields of a v1 Container the manifests may use; a misspelt probe would otherwise be dropped silently.
CONTAINER_FIELDS = {
    "name", "image", "imagePullPolicy", "command", "args", "workingDir", "ports", "env", "envFrom",
    "resources", "startupProbe", "readinessProbe", "livenessProbe", "lifecycle", "securityContext",
    "volumeMounts", "terminationMessagePolicy",
}
QUANTITY = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
SHELL_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")
CONFIG_VAR = re.compile(r"\$\{(\w+)\}")
PIP_NOISE = {"-q", "--quiet", "--disable-pip-version-check", "--no-cache-dir", "--no-compile"}
"""Flags that change pip's chatter, or when bytecode is written (make defers it to first import; the
image compiles at build time, as its user cannot write to the venv), never what is installed."""


# --- reading the files ---------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml")) + sorted(K8S.glob("*.yml"))


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def objects() -> list[dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s (the Kustomization is a kustomize file, not one)."""
    return [doc for path in manifest_files() for doc in load(path) if doc.get("kind") != "Kustomization"]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in objects() if doc["kind"] == kind]


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert matches, f"no {kind} named {name} under {K8S.relative_to(ROOT)}"
    return matches[0]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def containers(deployment: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    spec = pod_spec(deployment)
    return [*(spec.get("initContainers", []) if init else []), *spec["containers"]]


def command_line(words: list[str]) -> list[str]:
    """The argv a container runs, with a ``sh -c "exec ..."`` wrapper taken off."""
    if words[:2] in (["/bin/sh", "-c"], ["sh", "-c"]):
        words = shlex.split(" ".join(words[2:]))
    return words[1:] if words[:1] == ["exec"] else words


def container_argv(container: dict[str, Any]) -> list[str]:
    return command_line([*container.get("command", []), *container.get("args", [])])


def option(argv: list[str], flag: str) -> str:
    assert flag in argv, f"{flag} missing from {shlex.join(argv)}"
    return argv[argv.index(flag) + 1]


def server(module: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment and container that run ``python -m <module>`` (as bot/server/serve.py does)."""
    found = [
        (deployment, container)
        for deployment in of_kind("Deployment")
        for container in containers(deployment, init=False)
        if container_argv(container)[1:3] == ["-m", module]
    ]
    assert len(found) == 1, f"expected one container running `python -m {module}`, found {len(found)}"
    return found[0]


def init_container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    named = [c for c in pod_spec(deployment).get("initContainers", []) if c["name"] == name]
    assert named, f"{deployment['metadata']['name']} has no initContainer {name}"
    return named[0]


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    return {**data, **(secret.get("stringData") or {})}


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env over it."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(find("ConfigMap", source["configMapRef"]["name"]).get("data") or {})
        elif "secretRef" in source:
            env.update(secret_data(find("Secret", source["secretRef"]["name"])))
        else:
            raise AssertionError(f"unexpected envFrom source {source}")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]
        if "configMapKeyRef" in ref:
            values, key = find("ConfigMap", ref["configMapKeyRef"]["name"]).get("data") or {}, ref["configMapKeyRef"]["key"]
        else:
            values, key = secret_data(find("Secret", ref["secretKeyRef"]["name"])), ref["secretKeyRef"]["key"]
        assert key in values, f"{item['name']} refers to a key {key} that its source does not have"
        env[item["name"]] = values[key]
    return env


def expand(text: str, env: dict[str, str]) -> str:
    """A shell word's ``$VAR``, ``${VAR}`` and ``${VAR:-default}`` from the container's environment."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if env.get(name):
            return env[name]
        assert match.group(2) is not None, f"${name} is not set in the container"
        return match.group(2)

    return SHELL_VAR.sub(value, text)


def config_vars(path: Path) -> set[str]:
    """The ``${VAR}`` a Rasa config file reads (from its values, not its comments)."""

    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for item in node.values():
                yield from strings(item)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, str):
            yield node

    return {name for text in strings(yaml.safe_load(path.read_text(encoding="utf-8"))) for name in CONFIG_VAR.findall(text)}


def quantity(value: str | float) -> float:
    """A Kubernetes resource quantity (``500m``, ``2Gi``, ``"1"``) as a number of cores or bytes."""
    match = QUANTITY.match(str(value))
    assert match, f"not a resource quantity: {value!r}"
    return float(match.group(1)) * UNITS[match.group(2)]


def port_number(container: dict[str, Any], port: int | str) -> int:
    """A port given by number or by the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"container {container['name']} has no port named {port}"
    return named[port]


def assert_probes(container: dict[str, Any], path: str, port: int) -> None:
    """Readiness and liveness (and startup, when there is one) ask ``path`` on the port the server listens on."""
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if probe == "startupProbe" and probe not in container:
            continue
        assert probe in container, f"{container['name']} has no {probe}"
        check = container[probe]["httpGet"]
        assert (check["path"], port_number(container, check["port"])) == (path, port), f"{container['name']} {probe}"


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage: what the image is."""
    instructions = dockerfile_instructions()
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def dockerfile_commands() -> list[list[str]]:
    """Every command the RUN instructions run, each split into words."""
    return [shlex.split(part) for keyword, rest in dockerfile_instructions() if keyword == "RUN" for part in rest.split("&&")]


def makefile_commands() -> list[list[str]]:
    """Every recipe line of the Makefile, with its interpreter variables spelt out."""
    text = MAKEFILE.read_text(encoding="utf-8")
    recipes = [line.strip() for line in text.splitlines() if line.startswith("\t")]
    spelt = [line.replace("$(RASA)", "python -m rasa").replace("$(PY)", "python") for line in recipes]
    return [shlex.split(line) for line in spelt]


def pip_installs(commands: list[list[str]]) -> list[list[str]]:
    """The arguments of each ``pip install``, without the flags of ``PIP_NOISE``."""
    installs = []
    for words in commands:
        if "pip" in words and words[words.index("pip") + 1 : words.index("pip") + 2] == ["install"]:
            installs.append([word for word in words[words.index("pip") + 2 :] if word not in PIP_NOISE])
    return installs


def copied_sources() -> list[str]:
    """The repository paths the image's COPY instructions take from the build context."""
    sources = []
    for keyword, rest in dockerfile_instructions():
        words = shlex.split(rest)
        if keyword == "COPY" and not any(word.startswith("--from") for word in words):
            sources += [word.rstrip("/") for word in words[:-1] if not word.startswith("--")]
    return sources


def expected_model() -> Path:
    """bot/server/serve.py's MODEL, relative to the repository (as the image has it in its WORKDIR)."""
    from bot.server.serve import MODEL
    from bot.settings import BUILD_DIR

    return Path("build") / MODEL.relative_to(BUILD_DIR)


# --- every manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.name)
def test_every_document_is_a_named_kubernetes_object(path: Path) -> None:
    """A document without apiVersion, kind or name is rejected by kubectl only at rollout time."""
    documents = load(path)
    assert documents, f"{path.name} holds no document"
    for document in documents:
        assert isinstance(document, dict), f"{path.name}: a document is not a mapping"
        for field in ("apiVersion", "kind"):
            assert document.get(field), f"{path.name}: a document has no {field}"
        assert (document.get("metadata") or {}).get("name"), f"{path.name}: a {document['kind']} has no metadata.name"


def test_production_and_dev_resources_are_all_present() -> None:
    """The files the operator applies hold what scaling out needs, and names do not collide."""
    kinds = {(doc["apiVersion"], doc["kind"]) for doc in objects()}
    for kind in [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"),
                 ("policy/v1", "PodDisruptionBudget"), ("autoscaling/v2", "HorizontalPodAutoscaler")]:
        assert kind in kinds, f"no {kind[1]} ({kind[0]}) under deploy/k8s"
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in objects()]
    assert len(names) == len(set(names)), "two objects of the same kind share a name"


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_deployment_selects_its_own_pods(deployment: dict[str, Any]) -> None:
    """A selector that misses the template's labels is refused by the API server (or adopts other pods)."""
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert matches(selector, deployment["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_every_container_has_requests_and_limits(deployment: dict[str, Any]) -> None:
    """Without requests the scheduler packs the 1.6 GB Rasa servers onto one node; without limits one leak starves it."""
    for container in containers(deployment):
        unknown = set(container) - CONTAINER_FIELDS
        assert not unknown, f"{container['name']}: unexpected container fields {unknown} (misspelt?)"
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resource in (resources.get(bound) or {}), f"{container['name']}: no {bound}.{resource}"
        for resource in ("cpu", "memory"):
            request, limit = quantity(resources["requests"][resource]), quantity(resources["limits"][resource])
            assert request <= limit, f"{container['name']}: {resource} request above its limit"


@pytest.mark.parametrize("service", of_kind("Service"), ids=lambda s: s["metadata"]["name"])
def test_every_service_reaches_a_deployment_port(service: dict[str, Any]) -> None:
    """A Service whose selector or targetPort matches no pod has no endpoints: every request fails."""
    selector = service["spec"]["selector"]
    targets = [d for d in of_kind("Deployment") if matches(selector, d["spec"]["template"]["metadata"]["labels"])]
    assert targets, f"Service {service['metadata']['name']} selects no Deployment's pods"
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        for deployment in targets:
            ports = set()
            for container in containers(deployment, init=False):
                if isinstance(target, int) or any(p.get("name") == target for p in container.get("ports", [])):
                    ports.add(port_number(container, target))
            declared = {p["containerPort"] for c in containers(deployment, init=False) for p in c.get("ports", [])}
            assert ports and ports <= declared, (
                f"Service {service['metadata']['name']} port {port['port']}: targetPort {target} is no containerPort "
                f"of {deployment['metadata']['name']}"
            )


@pytest.mark.parametrize("budget", of_kind("PodDisruptionBudget"), ids=lambda p: p["metadata"]["name"])
def test_disruption_budget_covers_a_deployment(budget: dict[str, Any]) -> None:
    """A budget that selects no pods protects nothing during a node drain."""
    selector = budget["spec"]["selector"]["matchLabels"]
    covered = [d for d in of_kind("Deployment") if matches(selector, d["spec"]["template"]["metadata"]["labels"])]
    assert covered, f"PodDisruptionBudget {budget['metadata']['name']} selects no Deployment"
    for deployment in covered:
        assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"], "the budget would block every drain"


# --- the two servers -----------------------------------------------------------------------------


def test_rasa_runs_as_serve_py_starts_it() -> None:
    """Same model path, credentials and endpoints file as `make run`, and the probes on the port it listens on."""
    deployment, rasa = server("bot.server.rasa_run")
    argv, env = container_argv(rasa), environment(rasa)
    assert argv[:4] == ["python", "-m", "bot.server.rasa_run", "run"]  # as bot/server/serve.py starts it
    assert "--enable-api" in argv
    assert Path(option(argv, "--model")) == expected_model()
    assert (ROOT / option(argv, "--credentials")).resolve() == CREDENTIALS
    assert (ROOT / expand(option(argv, "--endpoints"), env)).resolve() == SCALE_ENDPOINTS
    assert env["TUTOR_ENDPOINTS"] == SCALE_ENDPOINTS.name
    port = int(option(argv, "--port"))
    assert port in {p["containerPort"] for p in rasa["ports"]}
    assert_probes(rasa, "/", port)
    assert deployment["spec"]["replicas"] >= 2, "one replica is not scaling out"


def test_rasa_container_gets_every_variable_its_config_files_read() -> None:
    """Rasa refuses to start (or connects to nothing) when a ${VAR} of these files is unset."""
    _, rasa = server("bot.server.rasa_run")
    env = environment(rasa)
    needed = config_vars(SCALE_ENDPOINTS) | config_vars(CREDENTIALS)
    assert {"TUTOR_DB_HOST", "TUTOR_REDIS_HOST", "SLACK_SIGNING_SECRET"} <= needed, "the config files changed shape"
    assert not needed - set(env), f"not given to the rasa container: {sorted(needed - set(env))}"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        assert env.get(name) == "1", f"{name} must be 1: nothing may be downloaded at run time"
    assert env.get("RASA_TELEMETRY_ENABLED") == "false"


def test_check_stores_checks_the_stores_rasa_will_use() -> None:
    """The initContainer must see the same TUTOR_* settings, or it passes while Rasa falls back to memory."""
    deployment, rasa = server("bot.server.rasa_run")
    check = init_container(deployment, "check-stores")
    assert container_argv(check)[-3:] == ["-m", "bot", "check-stores"]
    assert check["image"] == rasa["image"]
    rasa_env, check_env = environment(rasa), environment(check)
    stores = {name for name in config_vars(SCALE_ENDPOINTS) if name.startswith(("TUTOR_DB_", "TUTOR_REDIS_"))}
    assert stores, "endpoints.postgres.yml no longer reads TUTOR_DB_* / TUTOR_REDIS_*"
    for name in [*sorted(stores), "TUTOR_ENDPOINTS"]:
        assert name in check_env, f"check-stores is not given {name} (it would check the defaults)"
        assert check_env[name] == rasa_env[name], f"check-stores and rasa disagree on {name}"


def test_action_url_points_at_the_actions_service() -> None:
    """Rasa reaches the action servers through their Service, on the port the action server listens on."""
    _, rasa = server("bot.server.rasa_run")
    actions_deployment, actions = server("actions")
    url = urlparse(environment(rasa)["TUTOR_ACTION_URL"])
    service = find("Service", url.hostname or "")
    assert matches(service["spec"]["selector"], actions_deployment["spec"]["template"]["metadata"]["labels"])
    ports = [p for p in service["spec"]["ports"] if p["port"] == (url.port or 80)]
    assert ports, f"Service {service['metadata']['name']} has no port {url.port}"
    listening = int(option(container_argv(actions), "--port"))
    assert port_number(actions, ports[0].get("targetPort", ports[0]["port"])) == listening
    assert url.path == "/webhook", "rasa_sdk serves actions at /webhook"


def test_actions_probes_and_memory() -> None:
    """/health on the port the action server listens on; memory limited to the 1.5 GB target."""
    deployment, actions = server("actions")
    port = int(option(container_argv(actions), "--port"))
    assert_probes(actions, "/health", port)
    resources = actions["resources"]
    assert quantity(resources["limits"]["memory"]) <= ACTIONS_MEMORY_TARGET
    assert quantity(resources["requests"]["memory"]) >= ACTIONS_RESIDENT
    assert deployment["spec"]["replicas"] >= 2


def test_rasa_request_covers_its_measured_footprint() -> None:
    """A request below the resident size lets the scheduler put more servers on a node than fit."""
    _, rasa = server("bot.server.rasa_run")
    assert quantity(rasa["resources"]["requests"]["memory"]) >= RASA_RESIDENT
    assert quantity(rasa["resources"]["requests"]["cpu"]) >= 1, "a loaded server keeps about one core busy"


def test_autoscaler_scales_the_rasa_deployment_on_cpu() -> None:
    """CPU utilisation is relative to the request, so the HPA needs one on every rasa container."""
    deployment, rasa = server("bot.server.rasa_run")
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", deployment["metadata"]["name"])
    assert 2 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
    assert "cpu" in rasa["resources"]["requests"]


def test_dev_stores_are_where_the_config_points() -> None:
    """stores-dev.yaml's Services are the hosts and ports the ConfigMap names, so it works as applied."""
    path = K8S / "stores-dev.yaml"
    assert "NOT FOR PRODUCTION" in path.read_text(encoding="utf-8")
    dev = {doc["metadata"]["name"]: doc for doc in load(path) if doc["kind"] == "Service"}
    _, rasa = server("bot.server.rasa_run")
    env = environment(rasa)
    for host, port in (("TUTOR_DB_HOST", "TUTOR_DB_PORT"), ("TUTOR_REDIS_HOST", "TUTOR_REDIS_PORT")):
        assert env[host] in dev, f"{host}={env[host]} is no Service of stores-dev.yaml"
        assert int(env[port]) in {p["port"] for p in dev[env[host]]["spec"]["ports"]}
    images = {c["image"] for doc in load(path) if doc["kind"] == "Deployment" for c in containers(doc)}
    assert images == {"postgres:15", "redis:7"}


# --- kustomization -------------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    (document,) = load(K8S / "kustomization.yaml")
    return document


def test_kustomization_lists_the_production_resources() -> None:
    """Every manifest but the dev stores and the example Secret, so `kubectl apply -k` is the whole rollout."""
    listed = set(kustomization()["resources"])
    for name in listed:
        assert (K8S / name).is_file(), f"kustomization.yaml lists {name}, which does not exist"
    files = {path.name for path in manifest_files()} - {"kustomization.yaml"}
    assert listed == files - DEV_ONLY
    images = {c["image"] for path in listed for doc in load(K8S / path) if doc["kind"] == "Deployment" for c in containers(doc)}
    assert images == {entry["name"] for entry in kustomization()["images"]}, "an image kustomize does not rewrite"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_offline() -> None:
    """kubectl's own kustomize accepts the directory (no cluster needed) and rewrites every image."""
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    (image,) = kustomization()["images"]
    rewritten = f"{image['newName']}:{image['newTag']}"
    documents = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    for deployment in (doc for doc in documents if doc["kind"] == "Deployment"):
        assert {c["image"] for c in containers(deployment)} == {rewritten}


# --- the image -----------------------------------------------------------------------------------


def test_image_installs_what_make_setup_installs() -> None:
    """The same pip steps in the same order, from lock files that exist and are copied into the build."""
    docker, make = pip_installs(dockerfile_commands()), pip_installs(makefile_commands())
    make = [words for words in make if "requirements-train.txt" not in words]  # make train-matcher's, not setup's
    assert make, "no pip install in the Makefile"
    assert docker == make
    copied = copied_sources()
    for words in docker:
        for index, word in enumerate(words):
            if word in ("-r", "--requirement"):
                assert (ROOT / words[index + 1]).is_file(), f"{words[index + 1]} does not exist"
                assert words[index + 1] in copied, f"{words[index + 1]} is not copied into the image"


def test_image_installs_the_widget_as_make_setup_does() -> None:
    """The chat page serves rasa-webchat from node_modules; `npm ci` from the lock file, as the Makefile."""
    make = [words for words in makefile_commands() if words[:2] == ["npm", "ci"]]
    docker = [words for words in dockerfile_commands() if words[:2] == ["npm", "ci"]]
    assert make and docker == make
    assert "package-lock.json" in copied_sources()
    assert any("node_modules" in rest for keyword, rest in final_stage() if keyword == "COPY")


def test_image_copies_what_the_servers_and_training_read() -> None:
    """Training inputs (every file the shipped model's fingerprint names), the knowledge, both packages
    and the config files."""
    from bot.server.trained_model import input_files

    copied = copied_sources()
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
    needed = [path.relative_to(ROOT).as_posix() for path in input_files(ROOT)]
    assert "config.yml" in needed and any(path.startswith("data/") for path in needed)
    needed.append("models/tutor")
    _, rasa = server("bot.server.rasa_run")
    argv = container_argv(rasa)
    endpoints = expand(option(argv, "--endpoints"), environment(rasa))
    from bot.settings import JUDGED_PASSAGES, STANCE_DIR

    needed += ["bot", "actions", "knowledge", "models/key-point-matcher", JUDGED_PASSAGES.relative_to(ROOT).as_posix(),
               STANCE_DIR.relative_to(ROOT).as_posix(),
               option(argv, "--credentials"), endpoints]
    for path in needed:
        assert any(path == source or path.startswith(source + "/") for source in copied), f"{path} is not copied into the image"


def test_image_builds_the_index_and_model_serve_py_loads() -> None:
    """`make train`'s steps, in its order, writing build/index and build/models/tutor.tar.gz where the servers look."""
    commands = dockerfile_commands()
    builds = [i for i, words in enumerate(commands) if words[:4] == ["python", "-m", "bot", "build"]]
    trains = [i for i, words in enumerate(commands) if words[:4] == ["python", "-m", "bot", "train-model"]]
    assert builds and trains and builds[0] < trains[0], "the index must be built, then the model trained"
    train = commands[trains[0]]
    assert train in makefile_commands(), "the image trains differently from `make train`"
    from bot.server.trained_model import BUILD_MODEL
    from bot.settings import BUILD_DIR

    assert Path("build") / BUILD_MODEL.relative_to(BUILD_DIR) == expected_model()
    # bot/settings.py moves build/ and knowledge/ when these are set: the image must not set them.
    read = set(re.findall(r'os\.environ\.get\("(\w+)"', (ROOT / "bot" / "settings.py").read_text(encoding="utf-8")))
    moved = read & {"TUTOR_KNOWLEDGE_DIR", "TUTOR_BUILD_DIR", "TUTOR_JUDGE_DIR"}
    assert moved, "bot/settings.py no longer reads its directories from the environment"
    settings = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword in ("ENV", "ARG"))
    assert not any(name in settings for name in moved)


def test_image_default_command_is_the_rasa_server() -> None:
    """`docker run IMAGE` serves the same model on the same port as the rasa Deployment."""
    (cmd,) = [rest for keyword, rest in final_stage() if keyword == "CMD"]
    argv = command_line(json.loads(cmd))
    _, rasa = server("bot.server.rasa_run")
    deployed = container_argv(rasa)
    assert argv[:4] == ["python", "-m", "bot.server.rasa_run", "run"]  # as bot/server/serve.py starts it
    for flag in ("--model", "--port", "--credentials"):
        assert option(argv, flag) == option(deployed, flag)


def test_image_python_is_the_projects() -> None:
    """python:3.11-slim, the Python the lock files were resolved for (ruff's target-version says which)."""
    target = re.search(r'target-version = "py3(\d+)"', (ROOT / "ruff.toml").read_text(encoding="utf-8"))
    assert target
    (base,) = [rest for keyword, rest in final_stage() if keyword == "FROM"]
    assert base.split()[0] == f"python:3.{target.group(1)}-slim"
    settings = " ".join(rest for keyword, rest in final_stage() if keyword == "ENV")
    for setting in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "RASA_TELEMETRY_ENABLED=false"):
        assert setting in settings, f"the image does not set {setting} (training loads MiniLM offline)"
