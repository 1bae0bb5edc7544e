"""The document's blocks as Markdown and as one self-contained HTML page.

Both renderers walk the same blocks (see `document.py`), so the two files always say the same
thing; only the markup differs.
"""

from __future__ import annotations

import base64
import html

from .document import Block, Bullets, Heading, Paragraph, Table

# --- Markdown -----------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    """Keep a cell on one row of a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    """GitHub-flavoured pipe table; numbers right-aligned."""
    align = ["---"] + (["---:"] if table.numeric else ["---"]) * (len(table.header) - 1)
    lines = [table.header, align, *table.rows]
    return "\n".join("| " + " | ".join(_md_cell(c) for c in line) + " |" for line in lines)


def _md_block(block: Block) -> str:
    """One block as Markdown; an image is a link to the PNG written beside report.md."""
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return _md_table(block)
    return f"![{block.alt}]({block.file})"


def render_markdown(blocks: list[Block]) -> str:
    """Blocks separated by blank lines, as Markdown wants."""
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
th { background: #f2f2f2; }
table.num td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 1rem 0; }
"""


def _html_table(table: Table) -> str:
    """A plain <table>; every cell escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    cls = ' class="num"' if table.numeric else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_block(block: Block, images: dict[str, bytes]) -> str:
    """One block as HTML; images become base64 data URIs so the file stands alone."""
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    data = base64.b64encode(images[block.file]).decode("ascii")
    alt = html.escape(block.alt, quote=True)
    return f'<img alt="{alt}" title="{html.escape(block.file)}" src="data:image/png;base64,{data}">'


def render_html(blocks: list[Block], images: dict[str, bytes]) -> str:
    """A single self-contained page: inline CSS, embedded PNGs, no external resources."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "peftlab report")
    body = "\n".join(_html_block(b, images) for b in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
