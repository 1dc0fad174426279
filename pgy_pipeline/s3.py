"""Where an S3-compatible bucket is and how to sign in: one description for DuckDB and obstore.

The same bucket may hold the raw pages (``PGY_RAW_URL=s3://...``) and the lake's Parquet files
(``PGY_LAKE_DATA_PATH=s3://...``). The keys are secrets: this object's repr hides them, and they
reach DuckDB only as a temporary secret (never persisted, shown redacted by ``duckdb_secrets()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from obstore.store import S3Store


@dataclass(frozen=True)
class S3Config:
    """``endpoint``: ``http://host:port`` of an S3-compatible server (MinIO, moto, Ceph, OSS);
    None for AWS itself. Path-style URLs whenever an endpoint is given (what such servers expect)."""

    endpoint: str | None = None
    region: str = "us-east-1"
    key_id: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"S3Config(endpoint={self.endpoint!r}, region={self.region!r})"

    def duckdb_secret_sql(self, name: str = "pgy_s3") -> str:
        """CREATE SECRET for DuckDB's httpfs (temporary: it lives only in this connection)."""

        def lit(value: str) -> str:
            return "'" + value.replace("'", "''") + "'"

        parts = ["TYPE s3", f"REGION {lit(self.region)}"]
        if self.key_id and self.secret:
            parts += [f"KEY_ID {lit(self.key_id)}", f"SECRET {lit(self.secret)}"]
        if self.endpoint:
            url = urlsplit(self.endpoint)
            parts += [
                f"ENDPOINT {lit(url.netloc or url.path)}",
                "URL_STYLE 'path'",
                f"USE_SSL {'true' if url.scheme == 'https' else 'false'}",
            ]
        return f"CREATE OR REPLACE TEMPORARY SECRET {name} ({', '.join(parts)})"

    def store(self, bucket: str, prefix: str) -> S3Store:
        """An obstore client for ``bucket`` under ``prefix`` (credentials from this object only)."""
        from obstore.store import S3Store  # here: only bucket deployments load it

        config: dict[str, str | bool] = {"region": self.region}
        if self.key_id and self.secret:
            config |= {"access_key_id": self.key_id, "secret_access_key": self.secret}
        else:
            config["skip_signature"] = True
        if self.endpoint:
            config |= {"endpoint": self.endpoint, "virtual_hosted_style_request": False}
        client = {"allow_http": True} if (self.endpoint or "").startswith("http://") else {}
        return S3Store(bucket, prefix=prefix or None, config=config, client_options=client)  # type: ignore[arg-type]


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``) with no slashes at the ends."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parts.netloc, parts.path.strip("/")
