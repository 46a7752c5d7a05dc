"""What the parity scripts share: the CDK's Python (the airbyte-oracle venv unless
`--cdk-python PY` is given), the repository root, and intake's examples run through cargo."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cdk_python_and_args(args):
    """(python, remaining args): `--cdk-python PY` first, else the oracle's venv."""
    venv = os.environ.get("AIRBYTE_ORACLE_VENV") or os.path.expanduser("~/.cache/airbyte-oracle")
    if args[:1] == ["--cdk-python"]:
        return args[1], args[2:]
    return os.path.join(venv, "bin", "python"), args


def intake_example(name, *args, stdin=None):
    """The stdout of `cargo run -p intake-source-declarative --example NAME -- ARGS`."""
    cmd = ["cargo", "run", "-q", "-p", "intake-source-declarative", "--example", name]
    if args:
        cmd += ["--", *args]
    return subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True, check=True).stdout


def preprocessed(manifest):
    """The manifest as intake preprocesses it."""
    return json.loads(intake_example("preprocess", manifest))
