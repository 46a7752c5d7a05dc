#!/usr/bin/env python3
"""Compare intake's manifest preprocessing with airbyte-cdk's, manifest by manifest.

Usage: preprocess.py [--cdk-python PY] MANIFEST...

For each manifest, runs airbyte-cdk's ManifestReferenceResolver and ManifestComponentTransformer
(with the Python given, default the airbyte-oracle venv's) and intake's
(`cargo run -p intake-source-declarative --example preprocess`), and prints one line per manifest:
`same` or the first differing JSON paths. Exit status 1 when any differs.
"""
import json
import subprocess
import sys

from common import cdk_python_and_args, preprocessed

CDK_SNIPPET = r"""
import json, sys, yaml
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import ManifestComponentTransformer
m = yaml.safe_load(open(sys.argv[1]))
if "type" not in m:
    m["type"] = "DeclarativeSource"
r = ManifestReferenceResolver().preprocess_manifest(m)
p = ManifestComponentTransformer().propagate_types_and_parameters("", r, {})
print(json.dumps(p, default=str))
"""


def diff(a, b, path="", out=None, limit=10):
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: only intake has it")
            elif k not in b:
                out.append(f"{path}.{k}: only the CDK has it")
            else:
                diff(a[k], b[k], f"{path}.{k}", out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(b)} items (CDK) vs {len(a)} (intake)")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out, limit)
    elif a != b:
        out.append(f"{path}: CDK {json.dumps(b)[:80]} vs intake {json.dumps(a)[:80]}")
    return out


def main():
    py, args = cdk_python_and_args(sys.argv[1:])
    bad = 0
    for m in args:
        cdk = json.loads(subprocess.run([py, "-c", CDK_SNIPPET, m], check=True, capture_output=True, text=True).stdout)
        ours = preprocessed(m)
        d = diff(ours, cdk)
        print(f"{m}: " + ("same" if not d else "DIFFERS\n  " + "\n  ".join(d)))
        bad += bool(d)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
