"""How the harness itself moves files through S3: bounded memory whatever the file's size.

boto3's default ``upload_file`` / ``download_file`` runs 10 threads of 8 MiB parts. Against the
emulated S3 in the same process, every part in flight is held several times over (the client's
read, the HTTP request, moto's decoded body), so the process's peak memory grew with the file
up to ten parts' worth. The harness's own transfers (provisioning, staging a step's data in and
out, bootstrap scripts) pass ``Config=transfer_config()`` instead: at most ``MAX_CONCURRENCY``
parts of ``PART_BYTES`` in flight, the same for a 40 MiB and a 4 GiB file.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["MAX_CONCURRENCY", "PART_BYTES", "transfer_config"]

#: Part size of multipart transfers (boto3's default; S3's minimum part is 5 MiB).
PART_BYTES = 8 * 1024 * 1024
#: Parts in flight at once. Two cores and one GIL serve the emulated S3: more threads add
#: memory, not speed.
MAX_CONCURRENCY = 4


@functools.cache
def transfer_config() -> Any:
    """The ``boto3.s3.transfer.TransferConfig`` of the harness's transfers (boto3 imported on
    first use: the emulator's modules import this one without paying for boto3)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=PART_BYTES,
        multipart_chunksize=PART_BYTES,
        max_concurrency=MAX_CONCURRENCY,
    )
