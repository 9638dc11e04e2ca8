"""Reads GeoJSON files with GDAL (through pyogrio's wheel) and prints, per file, one JSON line with
what GDAL understood: driver, feature count, geometry type, CRS and field names. The interop test
compares that with what lantian exported."""

import json
import sys

import pyogrio
from pyogrio import raw


def main() -> int:
    for path in sys.argv[1:]:
        info = pyogrio.read_info(path)
        meta, _fids, geometry, fields = raw.read(path)
        print(json.dumps({
            "path": path,
            "driver": info["driver"],
            "features": int(info["features"]),
            "geometry_type": info["geometry_type"],
            "crs": info["crs"],
            "fields": [str(f) for f in info["fields"]],
            "read": len(geometry),
            "gdal": pyogrio.__gdal_version_string__,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
