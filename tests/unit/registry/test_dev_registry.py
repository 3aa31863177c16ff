"""The fleet file's modelRegistry and the dev fleet's MLflow server pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.dev import mlflow as mlf
from federation.dev.localfleet import FleetState, RegistryState
from federation.dev.objectstores import StoreEndpoint
from federation.dev.procs import ProcRecord
from federation.errors import InputErrors, ToolchainError
from federation.fleet import ModelRegistrySpec, parse_fleet

FLEET = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
objectStores:
  - {name: s3-a, provider: s3, region: us-east-1, bucket: models}
  - {name: gcs-a, provider: gcs, region: europe-west4, bucket: models}
  - {name: far, provider: s3, region: us-east-1, bucket: b, endpoint: https://s3.example}
clusters:
  - {name: m1, provider: aws, region: us-east-1}
"""


def test_model_registry_parsed() -> None:
    fleet = parse_fleet(FLEET + "modelRegistry: {type: mlflow, artifactStore: s3-a}\n")
    assert fleet.model_registry == ModelRegistrySpec(type="mlflow", artifact_store="s3-a")
    assert parse_fleet(FLEET).model_registry is None


@pytest.mark.parametrize(("block", "message"), [
    ("{type: mlflow, artifactStore: s3-b}", "modelRegistry.artifactStore: unknown object "
                                            "store 's3-b' (did you mean 's3-a'?)"),
    ("{type: mlflow, artifactStore: gcs-a}", "is a gcs store"),
    ("{type: mlflow, artifactStore: far}", "has an endpoint"),
    ("{type: kubeflow, artifactStore: s3-a}", "modelRegistry.type"),
    ("{type: mlflow}", "artifactStore"),
    ("{type: mlflow, artifactStore: s3-a, port: 5000}", "port"),
])
def test_model_registry_errors_name_the_field(block: str, message: str) -> None:
    with pytest.raises(InputErrors) as err:
        parse_fleet(FLEET + f"modelRegistry: {block}\n", "fleet.yaml")
    assert message in str(err.value)
    assert "fleet.yaml:" in str(err.value)


def cfg(tmp_path: Path) -> mlf.ServerConfig:
    store = StoreEndpoint(name="s3-a", provider="s3", region="us-east-1", bucket="models",
                          endpoint="http://127.0.0.1:9000", root=None, access_key="ak",
                          secret_key="sk")
    return mlf.ServerConfig(port=5055, data_dir=tmp_path, store=store, encryption_key="k")


def test_server_argv_and_env(tmp_path: Path) -> None:
    c = cfg(tmp_path)
    argv = mlf.server_argv(Path("/v/bin/mlflow"), c)
    assert argv[:2] == ["/v/bin/mlflow", "server"]
    opts = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert opts == {"--host": "127.0.0.1", "--port": "5055",
                    "--backend-store-uri": f"sqlite:///{tmp_path}/mlflow.db",
                    "--artifacts-destination": "s3://models/mlflow", "--workers": "1"}
    env = mlf.server_env(c)
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("ak", "sk")
    assert env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"] == "true"
    assert env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"] == "http,https"
    assert env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] == "k"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert c.url == "http://127.0.0.1:5055"


def test_encryption_key_is_a_fernet_key_kept_private(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    path = tmp_path / "reg" / "webhook.key"
    key = mlf.load_or_create_key(path)
    Fernet(key.encode())  # raises if MLflow could not use it
    assert path.stat().st_mode & 0o777 == 0o600
    assert mlf.load_or_create_key(path) == key  # kept across restarts
    assert mlf.new_encryption_key() != key


def test_installed_version_reads_the_venv(tmp_path: Path) -> None:
    assert mlf.installed_version(tmp_path) is None
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "mlflow-3.17.2.dist-info").mkdir(parents=True)
    (site / "mlflow_skinny-9.9.9.dist-info").mkdir()
    assert mlf.installed_version(tmp_path) is None  # no executable: broken
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "mlflow").touch()
    assert mlf.installed_version(tmp_path) == "3.17.2"
    assert mlf.ensure_installed(tmp_path) is False  # the pinned version: nothing to do


def test_require_installed_says_how_to_install(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDCTL_CACHE_DIR", str(tmp_path))
    with pytest.raises(ToolchainError, match="run scripts/bootstrap"):
        mlf.require_installed()


def test_fleet_state_round_trips_the_registry() -> None:
    reg = RegistryState(type="mlflow", url="http://127.0.0.1:5055", port=5055,
                        data_dir="/s/registry", artifact_store="s3-a",
                        artifacts_destination="s3://models/mlflow",
                        proc=ProcRecord("registry/mlflow", 42, 7, ("mlflow", "server"), "/l"))
    state = FleetState(name="f", source="<input>", state_dir="/s", kubeconfig="/s/k",
                       started_at=1.0, clusters=[], stores=[], registry=reg)
    again = FleetState.from_json(state.to_json())
    assert again.registry == reg
    assert list(again.all_procs()) == [reg.proc]
    old = state.to_json()
    del old["registry"]  # a state file written before the registry existed
    assert FleetState.from_json(old).registry is None


async def test_status_of_a_registry_whose_server_is_gone() -> None:
    from federation.dev.status import registry_status

    reg = RegistryState(type="mlflow", url="http://127.0.0.1:9", port=9, data_dir="/s",
                        artifact_store="s3-a", artifacts_destination="s3://models/mlflow",
                        proc=ProcRecord("registry/mlflow", 2**22 + 7, 1, ("x",), "/l"))
    state = FleetState(name="f", source="<input>", state_dir="/s", kubeconfig="/s/k",
                       started_at=1.0, clusters=[], stores=[], registry=reg)
    st = await registry_status(state)
    assert st is not None and (st.state, st.url) == ("Stopped", "http://127.0.0.1:9")
    state.registry = None
    assert await registry_status(state) is None
