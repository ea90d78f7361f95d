"""Meridian's positioning core: the one resolver and the shared-table contract, without Django.

- `positioning.resolver`: what a market shows (hide, show, promote, pin; rules; defaults) and why.
- `positioning.tables`: the shared admin tables' interface, item keys and size limits.
- `positioning.backends`: open the tables (DynamoDB via boto3, loaded lazily, or a SQLite file).
- `positioning.reader`: what the public Content API calls to resolve a page of candidates.
- `positioning/schemas/*.json`: the JSON Schema of every table's items.

The portal (Meridian) writes the tables; other teams' Lambdas install this package to read them
with exactly the portal's semantics. Its major version is the contract's `schema_version`.
"""

__version__ = "2.0.0"
