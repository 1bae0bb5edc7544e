"""The report's output is pinned byte for byte, so a refactor of `peftlab.report` cannot change it.

Each folder in tests/golden/report/ holds a fixed `results.json` (built from the fixtures of
test_report.py: full, untrained, missing figures, almost empty; `study`: a seeded study with intervals,
lr search, cost and stamp, issue 13) and what the report code at commit
b9bbf6b rendered from it: `report.md` exactly; `report.html` with the base64 PNG payloads replaced
by a placeholder (the text around them is pinned exactly); `png_sizes.json`, the pixel size of each
plot — PNG bytes may differ with the matplotlib build, the layout may not.

After an intended change to the report, rewrite the pins with
`PYTHONPATH=src python tests/test_report_golden.py --write` and review the diff.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

import pytest

from peftlab.report import render_report

GOLDEN = Path(__file__).parent / "golden" / "report"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "results.json").is_file())
_PNG_DATA = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def _png_size(data: bytes) -> list[int]:
    """[width, height] from the IHDR chunk, which always follows the 8-byte PNG signature."""
    width, height = struct.unpack(">II", data[16:24])
    return [width, height]


def _render(case: str, out_dir: Path) -> dict[str, str]:
    """What is pinned for one case: the Markdown, the HTML without image data, the plot sizes."""
    results = json.loads((GOLDEN / case / "results.json").read_text(encoding="utf-8"))
    paths = render_report(results, out_dir)
    sizes = {n: _png_size(p.read_bytes()) for n, p in sorted(paths.items()) if n.endswith(".png")}
    page = paths["report.html"].read_text(encoding="utf-8")
    return {
        "report.md": paths["report.md"].read_text(encoding="utf-8"),
        "report.html.txt": _PNG_DATA.sub("data:image/png;base64,<PNG>", page),
        "png_sizes.json": json.dumps(sizes, indent=2) + "\n",
    }


@pytest.mark.parametrize("case", CASES)
def test_report_output_is_unchanged(case, tmp_path):
    assert CASES, "no golden cases found"
    for name, text in _render(case, tmp_path / case).items():
        assert text == (GOLDEN / case / name).read_text(encoding="utf-8"), f"{case}/{name} changed"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            for name, text in _render(case, Path(tmp) / case).items():
                (GOLDEN / case / name).write_text(text, encoding="utf-8")
            print(f"wrote {GOLDEN / case}")
