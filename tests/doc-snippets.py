#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
The code blocks of a Markdown document, as its marker comments say
(docs/plugin-development.md).  A marker is an HTML comment on the line
right before the opening fence:

  <!-- file: PATH -->     the block is file PATH (blocks of one PATH are joined)
  <!-- excerpt: PATH --> the block appears verbatim in file PATH
  <!-- run: ROLE -->     the block runs, in document order, as ROLE (author or
                         admin): ```sh must succeed; ```console is "$ command"
                         lines, each followed by its output ("…" matches any
                         text within a line)
  <!-- mesh: METHOD -->  a ```json JSON-RPC reply a mesh caller of METHOD gets

Every fenced block with a language other than `text` needs a marker, so that
no code in the document goes untested.

  doc-snippets.py extract DOC PATH OUTPUT    write file PATH of DOC to OUTPUT
"""
import re
import sys

MARKER = re.compile(r"^<!-- (file|excerpt|run|mesh): (\S+) -->$")
FENCE = re.compile(r"^```(\w*)$")


class Block:
    def __init__(self, kind, arg, lang, text, line):
        self.kind, self.arg, self.lang, self.text, self.line = kind, arg, lang, text, line

    def __repr__(self):
        return "%s:%s (```%s, line %d)" % (self.kind, self.arg, self.lang, self.line)


def parse(path):
    """The blocks in document order; raises ValueError for an unmarked one."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        i += 1
        body = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError("%s:%d: unterminated code block" % (path, start + 1))
        i += 1
        marker = MARKER.match(lines[start - 1]) if start > 0 else None
        if not marker:
            if lang not in ("", "text"):
                raise ValueError("%s:%d: ```%s block without a marker comment" % (path, start + 1, lang))
            continue
        blocks.append(Block(marker.group(1), marker.group(2), lang, "\n".join(body) + "\n", start + 1))
    return blocks


def files(blocks):
    """{path: content} of the file blocks."""
    out = {}
    for b in blocks:
        if b.kind == "file":
            out[b.arg] = out.get(b.arg, "") + b.text
    return out


def console(text):
    """[(command, [expected output lines])] of a ```console block."""
    steps = []
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif not steps:
            raise ValueError("console block does not start with a command: %r" % line)
        else:
            steps[-1][1].append(line)
    return steps


def line_matches(expected, actual):
    """`expected` with "…" standing for any text."""
    return re.fullmatch(".*".join(re.escape(p) for p in expected.split("…")), actual) is not None


def main(argv):
    if len(argv) != 5 or argv[1] != "extract":
        print(__doc__.strip().split("\n")[-1].strip(), file=sys.stderr)
        return 2
    content = files(parse(argv[2])).get(argv[3])
    if content is None:
        print("%s has no block <!-- file: %s -->" % (argv[2], argv[3]), file=sys.stderr)
        return 1
    with open(argv[4], "w", encoding="utf-8") as f:
        f.write(content)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
