"""A moto DynamoDB server holding the reader bench's data, served by several processes.

`bench/reader.py` runs it as `gunicorn -w N --preload bench.moto_prefork:app`: the master seeds
moto's in-memory tables once (in-process, with `mock_aws`), then forks N workers that each serve
a copy of them. moto alone answers one request at a time (one process, one GIL), while DynamoDB
serves a feed's parallel calls side by side; N workers let the reader's parallel calls overlap
as far as this machine's cores allow. The data never changes after the fork (the bench only
reads), so the copies never diverge. Not a general-purpose server: a write would reach only
the worker that served it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _seed() -> None:
    from bench.reader import PREFIX, publish
    from positioning.backends import open_tables

    # In-process: mock_aws answers the seeding calls itself and keeps them in moto's backends,
    # the same objects the WSGI app below serves. Never stopped: stopping resets the backends.
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    mock_aws().start()
    tables = open_tables("dynamodb", prefix=PREFIX, threads=1)
    tables.create_tables()
    publish(tables)


_seed()
app = DomainDispatcherApplication(create_backend_app)
