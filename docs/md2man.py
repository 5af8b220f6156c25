#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn one of the Markdown pages in docs/ into a man page (roff).

    md2man.py GO_MD2MAN INPUT.md OUTPUT VERSION [--name NAME --section N --whatis TEXT]

The pages stay ordinary Markdown for readers of the repository; this script
only adapts them to go-md2man before calling it:

  * the first line `# name(N)` becomes the title block `% NAME N`; a page
    without such a line (docs/dbus-api.md) gets its title, a NAME section
    and a DESCRIPTION heading from --name/--section/--whatis;
  * headings move up one level (`## NAME` -> `.SH NAME`);
  * tables become definition lists: man pages are read in 80 columns, and
    groff warns about (and lintian reports) tables wider than that;
  * links to other files of the repository keep only their text;
  * the NAME line uses " - " so that mandb/lexgrog can parse it.

Then go-md2man writes the roff, and the result is checked for the
"wider than line width" class of problems it cannot fix.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def split_row(line):
    cells = line.strip().strip("|").split("|")
    return [c.strip() for c in cells]


def table_to_deflist(rows):
    header = split_row(rows[0])
    out = []
    for row in rows[2:]:
        cells = split_row(row)
        term = cells[0]
        parts = []
        for name, value in zip(header[1:], cells[1:]):
            if not value or value in ("-", "–"):
                continue
            parts.append("%s: %s" % (name, value) if name else value)
        out.append(term)
        out.append(": " + ("; ".join(parts) if parts else term))
        out.append("")
    return out


def convert(text, args):
    lines = text.splitlines()
    out = []
    m = re.match(r"^# (\S+)\((\d)\)\s*$", lines[0]) if lines else None
    if m:
        name, section = m.group(1), m.group(2)
        lines = lines[1:]
        body_intro = []
    else:
        if not (args.name and args.section and args.whatis):
            sys.exit("md2man: %s has no '# name(N)' title; give --name, --section and --whatis" % args.input)
        name, section = args.name, args.section
        # drop the Markdown title, keep the rest as DESCRIPTION
        if lines and lines[0].startswith("# "):
            lines = lines[1:]
        body_intro = ["## NAME", "", "%s - %s" % (name, args.whatis), "", "## DESCRIPTION", ""]
    out.append('%% %s %s "" "dc-plugin-host %s"' % (name.upper(), section, args.version))
    out.append("")
    lines = body_intro + lines

    in_code = False
    in_name = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_code = not in_code
            out.append(line)
            i += 1
            continue
        if in_code:
            out.append(line)
            i += 1
            continue
        if re.match(r"^#{2,} ", line):
            line = line[1:]
            in_name = line.strip() == "# NAME"
            out.append(line)
            i += 1
            continue
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|\s*$", lines[i + 1]):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out.extend(table_to_deflist(rows))
            continue
        # [text](relative/path) -> text; absolute URLs and man: links stay
        line = re.sub(r"\[([^\]]+)\]\((?!https?:|man:)[^)]+\)", r"\1", line)
        if in_name and line.strip():
            line = re.sub(r"\s+[—–]\s+", " - ", line)
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("go_md2man")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("version")
    p.add_argument("--name")
    p.add_argument("--section")
    p.add_argument("--whatis")
    args = p.parse_args()
    with open(args.input, encoding="utf-8") as f:
        md = convert(f.read(), args)
    with tempfile.NamedTemporaryFile("w", suffix=".md", encoding="utf-8", delete=False) as t:
        t.write(md)
    try:
        subprocess.run([args.go_md2man, "-in", t.name, "-out", args.output], check=True)
    finally:
        os.unlink(t.name)
    with open(args.output, encoding="utf-8") as f:
        roff = f.read()
    if ".TH " not in roff or ".SH NAME" not in roff:
        sys.exit("md2man: %s: no .TH/.SH NAME in the output" % args.output)
    if "tab(" in roff or ".TS" in roff:
        sys.exit("md2man: %s: a table survived the conversion" % args.output)


if __name__ == "__main__":
    main()
