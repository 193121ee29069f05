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
    # Names are bytes: str here, with surrogateescape for bytes that are
    # not UTF-8 (pax then says hdrcharset=BINARY for them, as export.c).
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8",
                      errors="surrogateescape") as t:
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
    # Names as bytes (issue 13): not UTF-8, Latin-1, ca-certificates' UTF-8
    # NetLock name and its link, a long link target not UTF-8.
    netlock = "NetLock_Arany_=Class_Gold=_F\u0151tan\u00fas\u00edtv\u00e1ny.pem"
    nonutf = os.fsdecode(b"\xff\xfe")
    s["names-bytes"] = tar([("f", nonutf), ("f", os.fsdecode(b"caf\xe9")), ("f", netlock),
                            ("l", "988a38cb.0", netlock),
                            ("l", "long", os.fsdecode(b"\xfe" * 300)),
                            ("h", os.fsdecode(b"hard\xfe"), nonutf)])
    s["names-bytes-gnu"] = tar([("f", os.fsdecode(b"g\xe9/" * 40 + b"\xff")),
                                ("l", os.fsdecode(b"l\xff"), os.fsdecode(b"\xe9" * 200))],
                               fmt=tarfile.GNU_FORMAT)
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


SEP = b"\n=====\n"
MT_MAN = "application/vnd.oci.image.manifest.v1+json"
MT_IDX = "application/vnd.oci.image.index.v1+json"
MT_CFG = "application/vnd.oci.image.config.v1+json"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"


def oci(*parts):
    return SEP.join(p.encode() if isinstance(p, str) else p for p in parts)


def index(n, ref="fuzz:1", mt=MT_MAN, key="org.opencontainers.image.ref.name"):
    ann = ',"annotations":{"%s":"%s"}' % (key, ref) if ref is not None else ""
    return ('{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"@%d@","size":#%d#%s}]}'
            % (mt, n, n, ann))


def manifest(cfg, layers):
    ls = ",".join('{"mediaType":"%s","digest":"@%d@","size":#%d#}' % (MT_TAR, n, n) for n in layers)
    return ('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"@%d@","size":#%d#},'
            '"layers":[%s]}' % (MT_MAN, MT_CFG, cfg, cfg, ls))


def config(diffs):
    ds = ",".join('"@%d@"' % n for n in diffs)
    return ('{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},'
            '"rootfs":{"type":"layers","diff_ids":[%s]}}' % ds)


def oci_seeds():
    l1 = tar([("d", "etc"), ("f", "etc/hostname", b"box\n"), ("l", "bin/sh", "busybox")])
    l2 = tar([("f", "etc/.wh.hostname", b""), ("f", "usr/bin/tool", b"#!", 0o755)])
    s = {}
    s["one-layer"] = oci(index(1), manifest(2, [3]), config([3]), l1)
    s["two-layers"] = oci(index(1), manifest(2, [3, 4]), config([3, 4]), l1, l2)
    s["no-layers"] = oci(index(1), manifest(2, []), config([]))
    s["nameless"] = oci(index(1, ref=None), manifest(2, [3]), config([3]), l1)
    s["containerd-name"] = oci(index(1, ref="docker.io/library/x:2", key="io.containerd.image.name"),
                               manifest(2, [3]), config([3]), l1)
    s["bad-name"] = oci(index(1, ref="../../images/x"), manifest(2, [3]), config([3]), l1)
    s["nested-index"] = oci(index(1, mt=MT_IDX),
                            '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"@2@","size":#2#,'
                            '"platform":{"os":"linux","architecture":"arm64"}},{"mediaType":"%s",'
                            '"digest":"@2@","size":#2#,"platform":{"os":"linux","architecture":"amd64"}}]}'
                            % (MT_MAN, MT_MAN),
                            manifest(3, [4]), config([4]), l1)
    s["gzip-layer"] = oci(index(1), manifest(2, [3]), config([4]), gzip.compress(l1, mtime=0), l1)
    s["wrong-diff-id"] = oci(index(1), manifest(2, [3]), config([4]), l1, l2)
    s["diff-id-count"] = oci(index(1), manifest(2, [3]), config([3, 3]), l1)
    s["two-images"] = oci('{"schemaVersion":2,"manifests":[{"digest":"@1@","annotations":'
                          '{"org.opencontainers.image.ref.name":"a"}},{"digest":"@1@"}]}',
                          manifest(2, [3]), config([3]), l1)
    s["missing-blob"] = oci(index(1), manifest(2, [3]), config([3]))
    s["bad-digest"] = oci('{"manifests":[{"digest":"sha256:../../etc/passwd"}]}')
    s["not-json"] = oci("{", manifest(2, [3]))
    s["layer-escape"] = oci(index(1), manifest(2, [3]), config([3]),
                            tar([("l", "up", ".."), ("f", "up/escape", b"out")]))
    # docker-archives: part 0 is manifest.json, "%N%" the path of part N
    s["docker-one-layer"] = oci('[{"Config":"%1%","RepoTags":["fuzz:1"],"Layers":["%2%"]}]',
                                config([2]), l1)
    s["docker-two-images"] = oci('[{"Config":"%1%","RepoTags":["a:1"],"Layers":["%2%"]},'
                                 '{"Config":"%1%","RepoTags":["b:1"],"Layers":["%2%"]}]',
                                 config([2]), l1)
    s["docker-escape"] = oci('[{"Config":"%1%","RepoTags":["x:1"],"Layers":["../../../etc/passwd"]}]',
                             config([2]), l1)
    s["docker-abs-config"] = oci('[{"Config":"/etc/passwd","RepoTags":["x:1"],"Layers":["%2%"]}]',
                                 config([2]), l1)
    s["docker-not-array"] = oci('[{"Config":1,"Layers":{}}]', config([2]), l1)
    return s


def write(folder, seeds):
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("test/fuzz/corpus/extract", layer_seeds())
    write("test/fuzz/corpus/oci", oci_seeds())
