#!/usr/bin/env python3
"""Turn the `ACL SETUSER` calls of Redis's own tests (tests/unit/acl.tcl, acl-v2.tcl) into
users.acl lines, one fresh user per call, for the differential check against real servers:

  git --git-dir REDIS.git show 7.0.15:tests/unit/acl.tcl > acl.tcl
  python3 scripts/acl_tcl_corpus.py acl.tcl acl-v2.tcl > corpus.acl
  RCTL_ACL_CORPUS=corpus.acl cargo test --test integration acl_corpus -- --ignored --nocapture

The corpus is Redis's test code, which rctl does not vendor: this is a development check, not
part of CI. Calls that use Tcl variables or command substitution are left out.
"""
import re, sys

def words(s):
    """Tcl words: "..." (backslash escapes), {...}, bare."""
    out, i = [], 0
    while i < len(s):
        if s[i].isspace():
            i += 1
            continue
        if s[i] == '"':
            j, w = i + 1, ""
            while j < len(s) and s[j] != '"':
                if s[j] == "\\" and j + 1 < len(s):
                    j += 1
                w += s[j]
                j += 1
            out.append(w)
            i = j + 1
        elif s[i] == "{":
            depth, j = 1, i + 1
            while j < len(s) and depth:
                depth += {"{": 1, "}": -1}.get(s[j], 0)
                j += 1
            out.append(s[i + 1 : j - 1])
            i = j
        else:
            j = i
            while j < len(s) and not s[j].isspace():
                j += 1
            out.append(s[i:j])
            i = j
    return out

n = 0
for path in sys.argv[1:]:
    for line in open(path):
        m = re.search(r"\br ACL SETUSER (.*?)(\}\s*(e|err)\s*)?$", line.strip(), re.I)
        if not m or "$" in m.group(1) or "[" in m.group(1):
            continue
        w = words(m.group(1))
        if len(w) < 2 or any("\n" in x for x in w):
            continue
        n += 1
        print(f"user t{n} " + " ".join(w[1:]))
