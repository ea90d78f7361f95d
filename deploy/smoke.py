"""Smoke test of a deployed stage: `/healthcheck` answers "ok", and one read-only API call works.

    python deploy/smoke.py --url https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev \
        --token-parameter /meridian/dev/smoke-api-token --region us-east-1

The token is an automation token of a read-only user (`manage.py api_token create --user smoke
--name pipeline`), kept in SSM as a SecureString; it is read at run time and never printed.
Standard library only (urllib), plus boto3 for the SSM read. Exit 0 when both checks pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

READ_ONLY_CALL = "/api/v1/markets/"


def _get(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "meridian-smoke", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https from the pipeline)
            return int(response.status), response.read(65536)
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(4096)
    except (urllib.error.URLError, OSError) as error:  # refused, DNS, TLS, timeout: status 0
        return 0, str(error).encode()


def smoke(
    base_url: str,
    token: str,
    *,
    attempts: int = 3,
    timeout: float = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Return the problems found (empty when the stage is healthy); retries cold starts briefly."""
    base = base_url.rstrip("/")
    problems: list[str] = []
    for attempt in range(attempts):
        problems = []
        status, body = _get(f"{base}/healthcheck", {}, timeout)
        if status != 200 or body.strip() != b"ok":
            problems.append(f"/healthcheck answered {status} {body[:80]!r}")
        status, body = _get(f"{base}{READ_ONLY_CALL}", {"Authorization": f"Token {token}"}, timeout)
        if status != 200:
            problems.append(f"GET {READ_ONLY_CALL} answered {status}")
        else:
            try:
                page = json.loads(body)
                if "results" not in page:
                    problems.append(f"GET {READ_ONLY_CALL} is not a page of markets")
            except ValueError:
                problems.append(f"GET {READ_ONLY_CALL} did not answer JSON")
        if not problems:
            return []
        if attempt + 1 < attempts:
            sleep(5 * (attempt + 1))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="the stage's base URL (execute-api or custom domain)")
    parser.add_argument("--token-parameter", help="SSM SecureString holding the smoke token")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    args = parser.parse_args(argv)
    token = os.environ.get("SMOKE_API_TOKEN", "")
    if args.token_parameter:
        import boto3

        ssm = boto3.client("ssm", region_name=args.region)
        token = ssm.get_parameter(Name=args.token_parameter, WithDecryption=True)["Parameter"]["Value"]
    if not token:
        sys.stderr.write("no token: pass --token-parameter or set SMOKE_API_TOKEN\n")
        return 2
    problems = smoke(args.url, token)
    for problem in problems:
        sys.stderr.write(f"smoke test failed: {problem}\n")
    if not problems:
        sys.stdout.write(f"smoke test passed: {args.url}/healthcheck and GET {READ_ONLY_CALL}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
