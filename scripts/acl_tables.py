#!/usr/bin/env python3
"""Produce rctl's per-target ACL tables (src/acl/tables/TARGET.txt).

Each table lists the target's ACL categories and every command name (subcommands as
`container|sub`), with the categories of each command where the source says them. Two sources:

  acl_tables.py server TARGET SERVER-BINARY DESCRIPTION
      Starts the binary on a free loopback port (no persistence), asks it with redis-cli:
      `COMMAND LIST` (7.x; on 6.x the names are those ACL CAT lists), `ACL CAT`, and `ACL CAT <category>` for each category.

  acl_tables.py source TARGET GIT-DIR TAG DESCRIPTION
      Reads the server's source at a release tag: `src/commands/*.json` (7.x and Valkey) for the
      commands and `ACLCommandCategories` in `src/acl.c` for the categories; on 6.0 the
      `redisCommandTable` flags in `src/server.c`, as populateCommandTable turns them into
      categories.

The table goes to stdout. The first lines name the source; rctl reads the rest.
"""
import json, os, re, socket, subprocess, sys, tempfile, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), "--no-raw", *args], check=True,
                         capture_output=True, text=True).stdout
    # --no-raw prints `1) "name"`; keep the quoted values.
    return [m.group(1) for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', out)]


def from_server(binary):
    port = free_port()
    d = tempfile.mkdtemp()
    p = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if cli(port, "ECHO", "up") == ["up"]:
                    break
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        try:
            names = cli(port, "COMMAND", "LIST")
        except subprocess.CalledProcessError:
            names = []
        # 6.x has no COMMAND LIST; every command is in @fast or @slow, so the names come
        # from ACL CAT <category> below.
        cats = cli(port, "ACL", "CAT")
        members = {n.lower(): [] for n in names}
        for c in cats:
            for n in cli(port, "ACL", "CAT", c):
                members.setdefault(n.lower(), []).append(c)
        return cats, members
    finally:
        p.terminate()
        p.wait()


def git_show(gitdir, tag, path):
    return subprocess.run(["git", "--git-dir", gitdir, "show", f"{tag}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def categories_from_acl_c(text):
    # 7.4 renamed the array (modules may add categories): ACLDefaultCommandCategories.
    key = "ACLCommandCategories[]" if "ACLCommandCategories[]" in text else "ACLDefaultCommandCategories[]"
    block = text[text.index(key):]
    block = block[:block.index("};")]
    return re.findall(r'\{"([a-z]+)",', block)


def from_source(gitdir, tag):
    acl_c = git_show(gitdir, tag, "src/acl.c")
    cats = categories_from_acl_c(acl_c)
    files = subprocess.run(["git", "--git-dir", gitdir, "ls-tree", "--name-only", f"{tag}", "src/commands/"],
                           check=True, capture_output=True, text=True).stdout.split()
    members = {}
    if any(f.endswith(".json") for f in files):
        for f in files:
            if not f.endswith(".json"):
                continue
            for name, spec in json.loads(git_show(gitdir, tag, f)).items():
                flags = spec.get("command_flags", [])
                if "ONLY_SENTINEL" in flags:
                    continue
                full = name.lower()
                if "container" in spec:
                    full = spec["container"].lower() + "|" + full
                members[full] = []  # categories are derived at run time there; rctl only needs the names
        return cats, members
    # 6.0: the command table in server.c, flags as a string.
    server_c = git_show(gitdir, tag, "src/server.c")
    table = server_c[server_c.index("struct redisCommand redisCommandTable[]"):]
    table = table[:table.index("};")]
    for m in re.finditer(r'\{"([a-z_:-]+)",\s*\w+,\s*-?\d+,\s*"([^"]*)"', table):
        name, flags = m.group(1), m.group(2).split()
        c = set()
        for fl in flags:
            if fl.startswith("@"):
                c.add(fl[1:])
            elif fl == "write":
                c.add("write")
            elif fl == "read-only":
                c.add("read")
            elif fl == "admin":
                c.update(["admin", "dangerous"])
            elif fl == "pub-sub":
                c.add("pubsub")
            elif fl == "fast":
                c.add("fast")
            elif fl == "no-script":
                pass
        if "fast" not in c:
            c.add("slow")
        members[name] = sorted(c & set(cats))
    return cats, members


def main():
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "server":
        binary, desc = sys.argv[3], sys.argv[4]
        cats, members = from_server(binary)
        how = f"{desc}: COMMAND LIST (7.x), ACL CAT, ACL CAT <category>"
    else:
        gitdir, tag, desc = sys.argv[3], sys.argv[4], sys.argv[5]
        cats, members = from_source(gitdir, tag)
        how = f"{desc} at tag {tag}: src/commands/*.json or src/server.c, and src/acl.c"
    print(f"# rctl ACL table for target {target}")
    print(f"# source: {how}")
    print("# generated by scripts/acl_tables.py; one command per line: NAME [category ...]")
    print("categories " + " ".join(cats))
    for name in sorted(members):
        print(" ".join([name] + sorted(members[name])).rstrip())


if __name__ == "__main__":
    main()
