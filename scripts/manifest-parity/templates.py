#!/usr/bin/env python3
"""Evaluate every Jinja template of the given manifests in airbyte-cdk and in intake, with one
fixed context, and compare the values (or that both fail).

Usage: templates.py [--cdk-python PY] MANIFEST...

Templates that read the clock (now_utc, today_utc, day_delta) or call Python methods on
objects only the CDK has (a response's .json()) are listed as skipped, with the reason.
Exit status 1 when any value differs.
"""
import json
import subprocess
import sys

from common import cdk_python_and_args, intake_example, preprocessed

CONTEXT = {
    "config": {
        "api_key": "k-1", "access_token": "at", "client_id": "cid", "client_secret": "cs",
        "refresh_token": "rt", "start_date": "2024-01-05T00:00:00Z", "since": "2024-01-05 10:00:00",
        "credentials": {"access_token": "t", "apikey": "x-us6"}, "data_center": "us6",
        "region": {"url_base": "https://eu.example.com"}, "page_size": 50, "pages_to_fetch": 3,
        "domains": ["a.com", "b.com"], "domain": "a.com", "athlete_id": 12, "region_id": "g_us",
        "sort_by": "keyword", "sort_value": "asc", "filter_by": "", "filter_value": None,
        "survey_id": 7,
    },
    "parameters": {"data_field": "lists", "cursor_field": "updated_at", "name": "lists"},
    "stream_slice": {"id": "l1", "parent_slice": {"id": "p1"}, "scheduled_event_id": "e1",
                     "extra_fields": {"url": "https://u.example.com"}},
    "response": {"error": {"message": "Invalid token abc", "code": 32000},
                 "pagination": {"next_page_token": "tok"}, "_metadata": {"next": ""},
                 "result": {"summary_info": {"page": 3}}},
    "headers": {"link": {"next": {"url": "https://api.example.com/p2"}}},
    "next_page_token": {"next_page_token": 2},
    "record": {"uri": "https://api.calendly.com/users/AB-12"},
    "property": "",
}

CDK_SNIPPET = r"""
import json, sys
from airbyte_cdk.sources.declarative.interpolation.jinja import JinjaInterpolation
j = JinjaInterpolation()
for line in sys.stdin:
    d = json.loads(line)
    ctx = dict(d["context"])
    config = ctx.pop("config")
    try:
        v = j.eval(d["template"], config, **ctx)
        print(json.dumps({"value": v}, default=str))
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"""

SKIP = {"now_utc": "reads the clock", "today_utc": "reads the clock", "day_delta": "reads the clock",
        ".json()": "calls a method of the CDK's response object (AsyncRetriever)"}


def templates(manifest):
    found = set()

    def walk(v):
        if isinstance(v, str) and ("{{" in v or "{%" in v):
            found.add(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                if "{{" in k:
                    found.add(k)
                walk(x)

    walk(preprocessed(manifest))
    return sorted(found)


def main():
    py, args = cdk_python_and_args(sys.argv[1:])
    all_t = sorted({t for m in args for t in templates(m)})
    skipped = [(t, r) for t in all_t for k, r in SKIP.items() if k in t]
    run = [t for t in all_t if not any(k in t for k in SKIP)]
    lines = "".join(json.dumps({"template": t, "context": CONTEXT}) + "\n" for t in run)
    cdk = subprocess.run([py, "-c", CDK_SNIPPET], input=lines, capture_output=True, text=True, check=True).stdout.splitlines()
    ours = intake_example("eval", stdin=lines).splitlines()
    same = differ = 0
    for t, c, o in zip(run, cdk, ours):
        c, o = json.loads(c), json.loads(o)
        if ("error" in c and "error" in o) or c.get("value", "<e>") == o.get("value", "<e>"):
            same += 1
        else:
            differ += 1
            print(f"DIFFERS {t!r}\n  CDK:    {c}\n  intake: {o}")
    for t, r in skipped:
        print(f"skipped {t!r}: {r}")
    print(f"{same} same, {differ} differ, {len(skipped)} skipped, of {len(all_t)} distinct templates")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
