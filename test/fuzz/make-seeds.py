#!/usr/bin/env python3
"""test/fuzz/make-seeds.py - (re)writes the generated seeds of the corpora
whose inputs are archives: extract/ (layer tars) and oci/ (OCI layouts in
the oci harness's input form, see oci_fuzz.c). Run from the repository root;
the files it writes are committed. Regression seeds (crash-*) are not made
here: they are what the fuzzers found, kept as they were."""
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile

ESC = "/tmp/devenv-fuzz-escape"


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            kind, name = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            data = None
            if kind == "f":
                data = e[2] if len(e) > 2 else b"hello\n"
                ti.size = len(data)
                ti.mode = e[3] if len(e) > 3 else 0o644
            elif kind == "d":
                ti.type = tarfile.DIRTYPE
                ti.mode = e[2] if len(e) > 2 else 0o755
            elif kind == "l":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e[2]
            elif kind == "h":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e[2]
            elif kind == "p":
                ti.type = tarfile.FIFOTYPE
            elif kind == "c":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = 1, 3
            elif kind == "x":  # a file with xattrs (pax)
                data = b"x"
                ti.size = 1
                ti.pax_headers = e[2]
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def layer_seeds():
    s = {}
    s["plain"] = tar([("d", "etc"), ("f", "etc/hostname", b"box\n"), ("f", "bin/sh", b"#!", 0o755),
                      ("l", "bin/ash", "sh"), ("h", "bin/link", "bin/sh"), ("p", "run/fifo"),
                      ("c", "dev/null"), ("d", "var/empty", 0o555)])
    s["whiteouts"] = tar([("d", "a"), ("f", "a/.wh.gone", b""), ("f", "b/.wh..wh..opq", b""),
                          ("f", ".wh.top", b""), ("f", "c/.wh..wh.x", b"")])
    s["replace"] = tar([("f", "x", b"file"), ("d", "x"), ("f", "x/y"), ("l", "x", "elsewhere"),
                        ("f", "x", b"again")])
    s["root-entry"] = tar([("d", "./", 0o700), ("d", ".", 0o555), ("f", "./a//b/./c")])
    s["xattrs"] = tar([("x", "f", {"SCHILY.xattr.user.k": "v",
                                    "SCHILY.xattr.trusted.overlay.opaque": "y",
                                    "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"})])
    s["long-names"] = tar([("f", "d/" * 60 + "f"), ("l", "l" * 200, "t" * 300)])
    s["ustar"] = tar([("f", "u/file", b"ustar\n")], fmt=tarfile.USTAR_FORMAT)
    s["gnu"] = tar([("f", "g/" + "n" * 120, b"gnu\n")], fmt=tarfile.GNU_FORMAT)
    # The attacks: every one must fail or stay inside the target.
    s["escape-dotdot"] = tar([("f", "../escape", b"out")])
    s["escape-dotdot-deep"] = tar([("f", "a/../../canary", b"out")])
    s["escape-absolute"] = tar([("f", ESC, b"out")])
    s["escape-symlink-dir"] = tar([("l", "up", ".."), ("f", "up/escape", b"out")])
    s["escape-symlink-abs"] = tar([("l", "t", "/tmp"), ("f", "t/devenv-fuzz-escape", b"out")])
    s["escape-symlink-canary"] = tar([("l", "c", "../canary"), ("f", "c", b"overwritten")])
    s["escape-symlink-chain"] = tar([("l", "a", "b"), ("l", "b", "../.."), ("d", "a/x")])
    s["escape-hardlink-out"] = tar([("h", "hl", "../canary")])
    s["escape-hardlink-abs"] = tar([("h", "hl", ESC)])
    s["escape-hardlink-via-symlink"] = tar([("l", "s", "../canary"), ("h", "hl", "s"),
                                            ("f", "hl", b"through")])
    s["escape-whiteout-out"] = tar([("f", "../.wh.canary", b"")])
    s["escape-whiteout-symlink"] = tar([("l", "s", ".."), ("f", "s/.wh.canary", b"")])
    s["escape-chmod-symlink"] = tar([("l", "s", "../canary"), ("d", "s", 0o777)])
    s["escape-fifo-symlink"] = tar([("l", "s", "/tmp"), ("p", "s/devenv-fuzz-escape")])
    plain = s["plain"]
    s["plain.gz"] = gzip.compress(plain, mtime=0)
    s["plain.xz"] = lzma.compress(plain)
    s["escape-symlink-dir.gz"] = gzip.compress(s["escape-symlink-dir"], mtime=0)
    if shutil.which("zstd"):
        s["plain.zst"] = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True,
                                        check=True).stdout
    return s


def write(folder, seeds):
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("test/fuzz/corpus/extract", layer_seeds())
