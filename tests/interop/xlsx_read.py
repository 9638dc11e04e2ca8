"""Opens a bulletin workbook with openpyxl, the stock Python reader, and prints its ranking sheet
as one JSON line: the sheet names and, per unit, the figures as the cells hold them."""

import json
import sys

import openpyxl


def main() -> int:
    wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
    ws = wb["排名"]
    rows = []
    for r in ws.iter_rows(min_row=4, values_only=True):
        if r[2] is None:
            continue
        rows.append({
            "group": r[0], "rank": r[1], "unit": r[2], "name": r[3], "score": r[4], "change": r[5],
            "compliance": r[6], "coverage": r[7], "closed": r[8], "on_time": r[9], "rework": r[10],
            "extension": r[11], "evidence_quality": r[12], "inspections": r[13],
            "rectification": r[14], "note": r[15] or "",
        })
    print(json.dumps({"sheets": wb.sheetnames, "rows": rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
