"""Uploads one photo to lantian with tuspy, the stock Python tus client, through a connection that
is cut mid-way, then resumes with a new uploader from the server's offset (HEAD), as a phone app
built on tuspy would. Prints one JSON line: the upload URL, the offset it resumed from, the error
the cut raised."""

import argparse
import json
import sys

import requests
from tusclient import client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--photo-id", required=True)
    p.add_argument("--inspection-id", required=True)
    p.add_argument("--sha256", required=True)
    p.add_argument("--chunk", type=int, default=64 * 1024)
    a = p.parse_args()

    tus = client.TusClient(a.endpoint, headers={"Authorization": "Bearer " + a.token})
    metadata = {
        "photo_id": a.photo_id,
        "inspection_id": a.inspection_id,
        "sha256": a.sha256,
        "filetype": "image/jpeg",
        "filename": "site.jpg",
    }
    first = tus.uploader(a.file, chunk_size=a.chunk, metadata=metadata, upload_checksum=True)
    cut = None
    try:
        first.upload()
    except (TusCommunicationError, TusUploadFailed, requests.exceptions.RequestException) as e:
        cut = repr(e)
    if first.url is None:
        print(json.dumps({"error": "no upload was created", "cut": cut}))
        return 1
    resumed = tus.uploader(a.file, url=first.url, chunk_size=a.chunk, upload_checksum=True)
    resumed_from = resumed.offset
    resumed.upload()
    print(json.dumps({"url": first.url, "resumed_from": resumed_from, "final": resumed.offset, "cut": cut}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
