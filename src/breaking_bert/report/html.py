"""Markdown as a standalone HTML page: Snakemake's report shows HTML outputs inline and offers
Markdown only as a download, so the findings and the tables a reader opens there are HTML copies
of the Markdown the pipeline writes (Python-Markdown with its tables extension)."""

from __future__ import annotations

import html

STYLE = ("body{font-family:sans-serif;max-width:70em;margin:1em auto;line-height:1.4}"
         "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}"
         "th,td{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}"
         "th{background:#eee}code{background:#f4f4f4}")


def html_page(markdown_text: str, title: str = "") -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
