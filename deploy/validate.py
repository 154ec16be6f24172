#!/usr/bin/env python3
"""Offline checks of everything under deploy/ (and the Dockerfile), no cluster needed.

- Kubernetes manifests (deploy/kubernetes): each object against the OpenAPI schema of a pinned
  Kubernetes version with `kubernetes-validate --strict` (unknown fields are errors), plus the
  cross-references a schema cannot see (selectors, port names, ConfigMap/Secret names, probes,
  non-root and read-only root filesystem, kustomization resources).
- KServe (deploy/kserve): structure of the InferenceService / ServingRuntime, and their pod parts
  (containers, volumes, securityContext) validated as a core/v1 Pod with the same schemas.
- docker-compose.yml: services.seer image/build, named volume for /data, healthcheck, limits.
- Dockerfile: the stages, user, volume, port and healthcheck that the deploy files rely on.
- The validator's own teeth: known-bad objects must be rejected.

First use makes a virtual environment .venv-deploy at the repository root and pip-installs
kubernetes-validate into it (needs PyPI); later runs are offline.
Usage: python3 deploy/validate.py        Exit status 0 when every check passes.
"""
import copy
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
VENV = os.path.join(ROOT, ".venv-deploy")
REQUIREMENTS = ["kubernetes-validate==1.37.0"]
KUBERNETES_VERSION = "1.31.0"


def ensure_environment():
    """Re-runs this script inside .venv-deploy (made on first use) unless the packages are importable."""
    try:
        import kubernetes_validate  # noqa: F401
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit(f"error: {VENV} exists but cannot import kubernetes_validate; delete it and run again")
    if not os.path.exists(python):
        print(f"making {VENV} (first use)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    marker = os.path.join(VENV, ".requirements")
    wanted = "\n".join(REQUIREMENTS)
    if not os.path.exists(marker) or open(marker).read() != wanted:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS], check=True)
        with open(marker, "w") as handle:
            handle.write(wanted)
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


ensure_environment()

import kubernetes_validate  # noqa: E402
import yaml  # noqa: E402


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, condition, what, detail=""):
        if condition:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
        return condition


def load_documents(path):
    with open(path) as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def schema_error(resource, strict=True):
    """None if `resource` passes the pinned Kubernetes schema, else the reason."""
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict)
        return None
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return f"{path}: {error.message}"
    except Exception as error:  # SchemaNotFoundError and friends name the kind and version
        return f"{type(error).__name__}: {error}"


def name_of(resource):
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# ---- Kubernetes ----

def check_kubernetes(report):
    folder = os.path.join(DEPLOY, "kubernetes")
    kustomization = load_documents(os.path.join(folder, "kustomization.yaml"))[0]
    listed = kustomization.get("resources", [])
    files = sorted(name for name in os.listdir(folder) if name.endswith(".yaml"))
    for name in listed:
        report.check(os.path.exists(os.path.join(folder, name)), f"kustomization lists {name}, which exists")
    unlisted = [name for name in files if name not in listed and name not in ("kustomization.yaml", "secret.example.yaml")]
    report.check(not unlisted, "kustomization lists every manifest", f"not listed: {unlisted}")
    report.check("secret.example.yaml" not in listed, "the example Secret is not applied by kustomization")

    resources = {}
    for name in files:
        if name == "kustomization.yaml":
            continue
        for resource in load_documents(os.path.join(folder, name)):
            error = schema_error(resource)
            report.check(error is None, f"{name}: {name_of(resource)} matches the Kubernetes {KUBERNETES_VERSION} schema (strict)", error)
            resources[resource["kind"]] = resource

    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Secret"):
        report.check(kind in resources, f"deploy/kubernetes has a {kind}")
    if not all(kind in resources for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Secret")):
        return
    deployment, service, hpa = resources["Deployment"], resources["Service"], resources["HorizontalPodAutoscaler"]
    pdb, config_map, secret = resources["PodDisruptionBudget"], resources["ConfigMap"], resources["Secret"]
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"].get("labels", {})
    container = pod["spec"]["containers"][0]

    report.check(labels_match(deployment["spec"]["selector"]["matchLabels"], pod_labels), "Deployment selector matches its pod labels")
    report.check(labels_match(service["spec"]["selector"], pod_labels), "Service selector matches the pods")
    report.check(labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels), "PodDisruptionBudget selector matches the pods")
    port_names = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    report.check(port_names.get("http") == 8080, "container port 'http' is 8080")
    report.check(all(port["targetPort"] in port_names or port["targetPort"] in port_names.values() for port in service["spec"]["ports"]),
                 "Service targetPort names a container port")
    target = hpa["spec"]["scaleTargetRef"]
    report.check(target["kind"] == "Deployment" and target["name"] == deployment["metadata"]["name"], "HPA scales the Deployment")
    report.check(any(metric.get("resource", {}).get("name") == "cpu" for metric in hpa["spec"]["metrics"]), "HPA scales on CPU")
    report.check("cpu" in container.get("resources", {}).get("requests", {}), "container requests CPU (the HPA's utilisation needs it)")
    report.check(all(key in container.get("resources", {}).get("limits", {}) for key in ("cpu", "memory")), "container has CPU and memory limits")

    config_refs = [source["configMapRef"]["name"] for source in container.get("envFrom", []) if "configMapRef" in source]
    report.check(config_refs == [config_map["metadata"]["name"]], "env comes from the ConfigMap", f"{config_refs}")
    report.check(config_map["data"].get("SEER_DATABASE", "").startswith("/data/"), "SEER_DATABASE is on the /data volume")
    secret_refs = {(variable["name"], variable["valueFrom"]["secretKeyRef"]["name"], variable["valueFrom"]["secretKeyRef"]["key"])
                   for variable in container.get("env", []) if "secretKeyRef" in variable.get("valueFrom", {})}
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    report.check({name for name, _, _ in secret_refs} == {"SEER_API_KEY", "SEER_ADMIN_KEY"}, "both keys come from a Secret")
    report.check(all(ref == secret["metadata"]["name"] and key in secret_keys for _, ref, key in secret_refs),
                 "secretKeyRefs name the example Secret and its keys")

    probes = {kind: container.get(kind, {}).get("httpGet", {}) for kind in ("livenessProbe", "readinessProbe", "startupProbe")}
    report.check(probes["livenessProbe"].get("path") == "/healthz", "liveness probe GETs /healthz")
    report.check(probes["readinessProbe"].get("path") == "/readyz", "readiness probe GETs /readyz")
    report.check(bool(probes["startupProbe"].get("path")), "a startup probe guards the liveness probe")
    report.check(all(probe.get("port") in port_names or probe.get("port") in port_names.values() for probe in probes.values()),
                 "probes use the container's port")

    pod_security = pod["spec"].get("securityContext", {})
    container_security = container.get("securityContext", {})
    report.check(pod_security.get("runAsNonRoot") is True and pod_security.get("runAsUser", 0) != 0, "pods run as a non-root user")
    report.check(container_security.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
    report.check(container_security.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    check_mounts(report, "Deployment", pod["spec"], container)


def check_mounts(report, what, pod_spec, container):
    volumes = {volume["name"] for volume in pod_spec.get("volumes", [])}
    mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
    report.check(mounts.get("/data") in volumes, f"{what}: a volume is mounted at /data")
    report.check(mounts.get("/tmp") in volumes, f"{what}: a volume is mounted at /tmp")
    report.check(all(name in volumes for name in mounts.values()), f"{what}: every volumeMount names a volume")


# ---- KServe ----

# Fields of v1beta1 PredictorSpec that are not core PodSpec fields (ComponentExtensionSpec and model specs).
PREDICTOR_EXTENSIONS = {"minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType", "autoScaling",
                        "containerConcurrency", "timeout", "canaryTrafficPercent", "logger", "batcher", "labels",
                        "annotations", "deploymentStrategy", "model", "workerSpec", "storageUri", "storage"}
SERVING_RUNTIME_POD_FIELDS = {"containers", "volumes", "nodeSelector", "affinity", "tolerations", "labels", "annotations",
                              "imagePullSecrets", "schedulerName", "hostIPC", "dnsPolicy", "hostNetwork"}


def pod_schema_error(name, pod_spec):
    return schema_error({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec})


def check_kserve(report):
    folder = os.path.join(DEPLOY, "kserve")
    services = load_documents(os.path.join(folder, "inferenceservice.yaml"))
    report.check(len(services) == 1, "inferenceservice.yaml holds one object")
    service = services[0]
    report.check(service.get("apiVersion") == "serving.kserve.io/v1beta1" and service.get("kind") == "InferenceService",
                 "InferenceService is serving.kserve.io/v1beta1")
    report.check(bool(service.get("metadata", {}).get("name")), "InferenceService has a name")
    predictor = service.get("spec", {}).get("predictor", {})
    containers = predictor.get("containers", [])
    report.check(len(containers) == 1, "the predictor is one custom container")
    if not containers:
        return
    container = containers[0]
    report.check(bool(container.get("image")), "the predictor container names an image")
    report.check([port.get("containerPort") for port in container.get("ports", [])] == [8080], "the predictor exposes port 8080 only")
    report.check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/v2/health/ready",
                 "readiness uses the Open Inference Protocol's /v2/health/ready")
    report.check(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/v2/health/live",
                 "liveness uses the Open Inference Protocol's /v2/health/live")
    pod_spec = {key: value for key, value in predictor.items() if key not in PREDICTOR_EXTENSIONS}
    error = pod_schema_error("seer-predictor", pod_spec)
    report.check(error is None, f"the predictor's pod fields match the core/v1 PodSpec schema of Kubernetes {KUBERNETES_VERSION} (strict)", error)
    report.check(container.get("securityContext", {}).get("readOnlyRootFilesystem") is True, "predictor: read-only root filesystem")
    report.check(predictor.get("securityContext", {}).get("runAsNonRoot") is True, "predictor: non-root")
    check_mounts(report, "predictor", predictor, container)

    runtime = load_documents(os.path.join(folder, "servingruntime.yaml"))[0]
    report.check(runtime.get("apiVersion") == "serving.kserve.io/v1alpha1" and runtime.get("kind") == "ServingRuntime",
                 "ServingRuntime is serving.kserve.io/v1alpha1")
    runtime_spec = runtime.get("spec", {})
    report.check(runtime_spec.get("protocolVersions") == ["v2"], "the ServingRuntime declares protocolVersions [v2]")
    pod_fields = {key: value for key, value in runtime_spec.items() if key in SERVING_RUNTIME_POD_FIELDS}
    error = pod_schema_error("seer-runtime", pod_fields)
    report.check(error is None, "the ServingRuntime's containers and volumes match the core/v1 PodSpec schema (strict)", error)
    unknown = set(runtime_spec) - SERVING_RUNTIME_POD_FIELDS - {"supportedModelFormats", "protocolVersions", "disabled",
                                                                 "multiModel", "grpcEndpoint", "grpcDataEndpoint", "httpDataEndpoint",
                                                                 "replicas", "storageHelper", "builtInAdapter", "modelSizeRange"}
    report.check(not unknown, "the ServingRuntime has only ServingRuntimeSpec fields", f"unknown: {sorted(unknown)}")
    runtime_containers = runtime_spec.get("containers", [])
    report.check([c.get("name") for c in runtime_containers] == ["kserve-container"], "the runtime's container is named kserve-container")

    by_runtime = load_documents(os.path.join(folder, "inferenceservice-runtime.yaml"))[0]
    model = by_runtime.get("spec", {}).get("predictor", {}).get("model", {})
    report.check(by_runtime.get("kind") == "InferenceService", "inferenceservice-runtime.yaml is an InferenceService")
    report.check(model.get("protocolVersion") == "v2", "predictor.model.protocolVersion is v2")
    report.check(model.get("runtime") == runtime.get("metadata", {}).get("name"), "it names the ServingRuntime")
    formats = {entry.get("name") for entry in runtime_spec.get("supportedModelFormats", [])}
    report.check(model.get("modelFormat", {}).get("name") in formats, "its modelFormat is one the runtime supports")


# ---- docker compose ----

def check_compose(report):
    path = os.path.join(DEPLOY, "docker-compose.yml")
    text = open(path).read()
    compose = yaml.safe_load(text)
    seer = compose.get("services", {}).get("seer", {})
    report.check(bool(seer), "compose has services.seer")
    report.check(bool(seer.get("image")) or bool(seer.get("build")), "services.seer has an image or a build")
    build = seer.get("build", {})
    if build:
        context = os.path.normpath(os.path.join(DEPLOY, build.get("context", ".")))
        report.check(os.path.exists(os.path.join(context, build.get("dockerfile", "Dockerfile"))), "the build context holds the Dockerfile")
    named = set((compose.get("volumes") or {}).keys())
    data_mounts = [volume.split(":")[0] for volume in seer.get("volumes", []) if isinstance(volume, str) and volume.split(":")[1] == "/data"]
    report.check(len(data_mounts) == 1 and data_mounts[0] in named, "/data is a named volume declared under volumes")
    test = seer.get("healthcheck", {}).get("test", [])
    report.check(test[:1] == ["CMD"] and any("seer" in part for part in test) and "healthcheck" in test,
                 "the healthcheck runs `seer healthcheck` (no curl)")
    report.check(seer.get("restart") in ("always", "unless-stopped", "on-failure"), "restart policy set")
    limits = seer.get("deploy", {}).get("resources", {}).get("limits", {})
    report.check("cpus" in limits and "memory" in limits, "CPU and memory limits")
    environment = seer.get("environment", {})
    report.check(all(key in environment for key in ("SEER_API_KEY", "SEER_ADMIN_KEY")), "keys come from the environment")
    report.check(environment.get("SEER_DATABASE", "").startswith("/data/"), "the database is on /data")
    report.check(any(str(port).endswith(":8080") for port in seer.get("ports", [])), "container port 8080 is published")
    bad = [match for match in re.findall(r"\$\{([^}]*)\}", text) if not re.fullmatch(r"[A-Z_][A-Z0-9_]*(:?-[^}]*)?", match)]
    report.check(not bad, "every ${...} interpolation is well-formed", f"{bad}")


# ---- Dockerfile ----

def check_dockerfile(report):
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    # Build stages (an FFmpeg stage may precede the Swift one); the last stage is the runtime image.
    report.check(len(froms) >= 2 and any(line.startswith("FROM swift:6.3-bookworm") for line in froms[:-1])
                 and froms[-1] == "FROM debian:bookworm-slim",
                 "Dockerfile: build stage swift:6.3-bookworm, runtime debian:bookworm-slim", f"{froms}")
    report.check("--static-swift-stdlib" in text, "Dockerfile: static Swift standard library")
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    report.check(bool(users) and users[-1].split(":")[0] not in ("0", "root"), "Dockerfile: runs as a non-root user")
    report.check(any(line.startswith("VOLUME") and "/data" in line for line in lines), "Dockerfile: /data is a VOLUME")
    report.check("EXPOSE 8080" in lines, "Dockerfile: EXPOSE 8080")
    report.check(any(line.startswith("HEALTHCHECK") and "healthcheck" in line.split("CMD", 1)[-1] for line in lines),
                 "Dockerfile: HEALTHCHECK runs `seer healthcheck`")
    report.check("SEER_DATABASE=/data/seer.sqlite" in text, "Dockerfile: SEER_DATABASE=/data/seer.sqlite")
    ignored = [line.strip() for line in open(os.path.join(ROOT, ".dockerignore")) if line.strip() and not line.startswith("#")]
    report.check(".git" in ignored and ".build" in ignored and "Sources" not in ignored and "models" not in ignored,
                 ".dockerignore leaves out .git and .build but not Sources or models")


# ---- the validator rejects what it should ----

def check_teeth(report):
    deployment = load_documents(os.path.join(DEPLOY, "kubernetes", "deployment.yaml"))[0]
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = typo["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe")
    report.check(schema_error(typo) is not None, "a misspelt field (livenessprobe) is rejected")
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    report.check(schema_error(wrong_type) is not None, "replicas: \"two\" is rejected")
    no_selector = copy.deepcopy(deployment)
    del no_selector["spec"]["selector"]
    report.check(schema_error(no_selector) is not None, "a Deployment without a selector is rejected")
    bad_pod = {"containers": [{"name": "x", "image": "y", "ports": [{"containerPort": "eighty"}]}]}
    report.check(pod_schema_error("bad", bad_pod) is not None, "a pod with a non-numeric containerPort is rejected")


def main():
    report = Report()
    for section in (check_kubernetes, check_kserve, check_compose, check_dockerfile, check_teeth):
        try:
            section(report)
        except Exception as error:  # a malformed file must fail the run with its reason, not a traceback
            report.check(False, f"{section.__name__} ran", f"{type(error).__name__}: {error}")
    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
