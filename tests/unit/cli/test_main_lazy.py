"""`fedctl` imports only the command module a command line names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from federation.cli.main import COMMAND_MODULES, build_parser, command_of


@pytest.mark.parametrize(("argv", "want"), [
    (["artifacts", "sync", "a:b/c"], "artifacts"),
    (["--log-level", "debug", "plan", "x"], "plan"),
    (["--log-level=debug", "--log-json", "get"], "get"),
    (["--help"], None),
    ([], None),
    (["--", "dev"], None),
])
def test_command_of(argv: list[str], want: str | None) -> None:
    assert command_of(argv) == want


def test_unknown_command_still_lists_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(command_of(["bogus"])).parse_args(["bogus"])
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in COMMAND_MODULES)


def test_artifacts_help_imports_no_other_command_and_no_cloud_sdk() -> None:
    code = ("import sys\nfrom federation.cli.main import main\n"
            "try:\n    main(['artifacts', 'sync', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('federation.cli.', "
            "'boto3', 'botocore', 'google.cloud', 's3transfer', 'federation.scheduling'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    loaded = eval(out)  # a printed list of module names
    assert "federation.cli.artifacts" in loaded
    assert not [m for m in loaded if m.split(".")[-1] in COMMAND_MODULES
                and m != "federation.cli.artifacts"]
    assert not [m for m in loaded if m.startswith(("boto3", "botocore", "google.cloud",
                                                   "s3transfer", "federation.scheduling"))]


def test_an_s3_store_loads_neither_google_nor_s3transfer_until_a_multipart_upload() -> None:
    code = ("import sys\nfrom distributors.store import StoreConfig, open_store\n"
            "s = open_store(StoreConfig('s', 's3', bucket='b', endpoint='http://127.0.0.1:9',"
            " access_key='a', secret_key='b'))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('google.cloud', "
            "'s3transfer', 'boto3'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert eval(out) == []
