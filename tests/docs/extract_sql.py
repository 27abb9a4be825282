#!/usr/bin/env python3
"""Extracts every ```sql block of README.md and docs/*.md for tests/docs/run.sh.

Usage: extract_sql.py ROOT OUTDIR
Writes OUTDIR/NNN.sql (one block each) and prints a manifest, one line per block, tab-separated:
    NNN  FILE  BLOCK  LINE  MODE  REASON  EXPECTED_ERROR
MODE: tx    run inside BEGIN; ... ROLLBACK;
      notx  cannot run in a transaction block (CALL of a procedure that commits, VACUUM, CREATE DATABASE, a wait
            for a background refresh that must commit first, ...):
            run as is on a scratch copy of the database
      skip  opted out with <!-- not-tested: REASON --> on the line(s) just before the fence
EXPECTED_ERROR: a block that shows its error as a comment, "-- ERROR:  message", must fail with that message.
"""
import pathlib
import re
import sys

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)")
OPT_OUT = re.compile(r"<!--\s*not-tested:\s*(.*?)\s*-->")
NO_TX = re.compile(r"^\s*(CALL\s|VACUUM\b|CREATE\s+DATABASE\b|DROP\s+DATABASE\b|ALTER\s+SYSTEM\b|"
                   r"SELECT\s+aispend\.wait_refresh\b|"
                   r"CREATE\s+INDEX\s+CONCURRENTLY\b|REINDEX\s+.*CONCURRENTLY\b|CHECKPOINT\b|"
                   r"\\c(onnect)?\s)", re.I | re.M)


def blocks(path):
    """Yields (block number, first line, text, opt-out reason or None) for the ```sql blocks of a file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i, n = 0, 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(2), m.group(3).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if lang in ("sql", "psql", "postgresql"):
            n += 1
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            reason = None
            if k >= 0:
                o = OPT_OUT.search(lines[k])
                if o:
                    reason = o.group(1) or "no reason given"
            yield n, start + 1, "\n".join(lines[start + 1:j]) + "\n", reason
        i = j + 1


def main(root, outdir):
    root, outdir = pathlib.Path(root), pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    files = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    count = 0
    for f in files:
        if not f.exists():
            continue
        for n, line, text, reason in blocks(f):
            count += 1
            (outdir / f"{count:03d}.sql").write_text(text, encoding="utf-8")
            # Comments do not count when deciding: strip -- comments before matching.
            code = re.sub(r"--[^\n]*", "", text)
            mode = "skip" if reason else ("notx" if NO_TX.search(code) else "tx")
            expected = re.search(r"^\s*--\s*ERROR:\s*(.+?)\s*$", text, re.M)
            print("\t".join([f"{count:03d}", str(f.relative_to(root)), str(n), str(line), mode,
                             (reason or "-").replace("\t", " "), expected.group(1) if expected else "-"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
