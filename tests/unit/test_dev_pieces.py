"""Pure pieces of the local fleet: node manifests, kwok config, build plumbing, pki."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509

from federation.dev import build, pki, procs
from federation.dev.nodes import node_manifests
from federation.errors import ToolchainError
from federation.fleet import parse_fleet

FLEET = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
clusters:
  - name: c1
    provider: aws
    region: us-east-1
    zone: us-east-1b
    simulate:
      nodePools:
        - {name: l4, count: 2, gpu: {product: L4-24GB, count: 4}, cpu: "48", memory: 192Gi,
           labels: {pool-kind: inference},
           taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]}
        - {name: cpu, count: 1}
"""


def test_node_manifests_carry_gpu_capacity_and_gfd_labels() -> None:
    cluster = parse_fleet(FLEET).cluster("c1")
    nodes = node_manifests(cluster)
    assert [n["metadata"]["name"] for n in nodes] == ["c1-l4-0", "c1-l4-1", "c1-cpu-0"]
    gpu = nodes[0]
    labels = gpu["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert labels["nvidia.com/gpu.count"] == "4"
    assert labels["nvidia.com/gpu.memory"] == "23034"
    assert labels["topology.kubernetes.io/zone"] == "us-east-1b"
    assert labels["pool-kind"] == "inference"
    assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert gpu["status"]["capacity"]["cpu"] == "48000m"
    assert gpu["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert gpu["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    cpu = nodes[2]
    assert "nvidia.com/gpu" not in cpu["status"]["allocatable"]
    assert "nvidia.com/gpu.product" not in cpu["metadata"]["labels"]


def test_staging_replaces_cover_every_staging_module() -> None:
    gomod = """module k8s.io/kubernetes
require (
\tk8s.io/api v0.0.0
\tk8s.io/utils v0.0.0-20250820121507-0af2bda4dd1d
)
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/cri-api => ./staging/src/k8s.io/cri-api
)
"""
    assert build.staging_replaces(gomod, "1.35.4") == [
        "\tk8s.io/api => k8s.io/api v0.35.4",
        "\tk8s.io/cri-api => k8s.io/cri-api v0.35.4",
    ]


def test_missing_go_says_what_to_install() -> None:
    with pytest.raises(ToolchainError) as err:
        build.go_binary(path_env="", fallbacks=())
    assert "Go toolchain was not found" in str(err.value)
    assert "install Go >= 1.26" in str(err.value)


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")
def test_failed_build_shows_the_go_error(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.invalid/broken\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    log = tmp_path / "build.log"
    with pytest.raises(ToolchainError) as err:
        build._run([build.go_binary(), "build", "."], tmp_path, log, build._go_env())
    assert "undefined: undefinedThing" in str(err.value)
    assert str(log) in str(err.value)


def test_cache_entry_needs_marker_and_binaries(tmp_path: Path) -> None:
    comp = build.COMPONENTS["etcd"]
    d = build.component_dir(comp, tmp_path)
    d.mkdir(parents=True)
    (d / "etcd").write_text("")
    assert not build.is_built(comp, tmp_path)  # interrupted build: no marker
    (d / ".complete").write_text("{}")
    assert build.is_built(comp, tmp_path)
    other = build.Component("etcd", "9.9.9", ("etcd",))
    assert not build.is_built(other, tmp_path)  # a version change builds anew


def test_certificates_chain_to_the_ca(tmp_path: Path) -> None:
    ca = pki.ensure_ca(tmp_path)
    serving = pki.issue(ca, tmp_path, "srv", common_name="kube-apiserver", server=True)
    admin = pki.issue(ca, tmp_path, "adm", common_name="a", organization="system:masters",
                      client=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    srv = x509.load_pem_x509_certificate(serving.cert.read_bytes())
    srv.verify_directly_issued_by(ca_cert)
    sans = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    adm = x509.load_pem_x509_certificate(admin.cert.read_bytes())
    assert adm.subject.rfc4514_string() == "CN=a,O=system:masters"
    assert (admin.key.stat().st_mode & 0o777) == 0o600


def test_process_pause_resume_stop(tmp_path: Path) -> None:
    rec = procs.spawn("sleeper", ["sleep", "30"], tmp_path / "s.log")
    assert procs.state(rec) == "running"
    procs.pause(rec)
    assert procs.state(rec) == "stopped"
    procs.resume(rec)
    assert procs.state(rec) == "running"
    procs.stop(rec, grace=2)
    assert procs.state(rec) == "exited"
    procs.stop(rec)  # idempotent


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    script = "trap '' TERM; while true; do sleep 0.1; done"
    rec = procs.spawn("stubborn", ["bash", "-c", script], tmp_path / "s.log")
    time.sleep(0.2)
    started = time.monotonic()
    procs.stop(rec, grace=0.5)
    assert procs.state(rec) == "exited"
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 3
    members = b"?"
    while members and time.monotonic() < deadline:  # children may take a moment to be reaped
        out = subprocess.run(["ps", "-o", "stat=", "-g", str(rec.pid)], capture_output=True,
                             check=False)
        members = b"".join(x for x in out.stdout.split() if not x.startswith(b"Z"))
        time.sleep(0.05)
    assert members == b""  # the whole group is gone


def test_port_allocator_hands_out_distinct_free_ports() -> None:
    import socket

    from federation.dev.ports import PortAllocator, port_free

    alloc = PortAllocator()
    ports = [alloc.take() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(port_free(p) for p in ports)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not port_free(busy.getsockname()[1])
