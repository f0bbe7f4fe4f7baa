#!/usr/bin/env bash
# deb-check.sh - `make deb-check`: builds the Debian packages (librerank0, librerank-dev, rerank) from this
# working tree into build/deb/, installs them, compiles examples/score.c against the installed librerank.pc
# (shared, and static from Libs.private), scores a tiny checkpoint with it and with the installed CLI, then
# removes the packages. Needs root or sudo (dpkg -i); refuses to run when those packages are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/deb
model=tests/data/testdata/xlmr-seqcls-tiny
query="what is panda?" passage="The giant panda is a bear."
pkgs=(librerank0 librerank-dev rerank)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
fail() { echo "deb-check: $*" >&2; exit 1; }

for p in "${pkgs[@]}"; do
  if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
    fail "$p is already installed on this machine; remove it first (this check installs and removes its own)"
  fi
done
version=$(sed -n 's/^#define RERANK_VERSION "\(.*\)"/\1/p' include/rerank.h)
changelog=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "$version" = "$changelog" ] || fail "RERANK_VERSION $version (include/rerank.h) != $changelog (debian/changelog)"

# Build from a copy of the tree's tracked and new files: dpkg-buildpackage cleans (make clean) where it runs.
rm -rf "$out" && mkdir -p "$out/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$out/src"
else
  tar --exclude=./build --exclude=./build-san --exclude=./build-noisa -cf - . | tar -xf - -C "$out/src"
fi
echo "deb-check: dpkg-buildpackage -us -uc -b (log: $out/build.log)"
if ! (cd "$out/src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) \
  >"$out/build.log" 2>&1; then
  tail -n 30 "$out/build.log" >&2
  fail "dpkg-buildpackage failed"
fi
debs=()
for p in "${pkgs[@]}"; do debs+=("$out/${p}_${version}_$(dpkg --print-architecture).deb"); done
ls -l "${debs[@]}"

remove() { $SUDO dpkg -P "${pkgs[@]}" >/dev/null 2>&1 || true; }
trap remove EXIT
$SUDO dpkg -i "${debs[@]}" >"$out/install.log" 2>&1 || { cat "$out/install.log" >&2; fail "dpkg -i failed"; }

libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
[ "$(readlink "$libdir/librerank.so.0")" = "librerank.so.$version" ] || fail "$libdir/librerank.so.0 is not a link to librerank.so.$version"
[ "$(readlink "$libdir/librerank.so")" = "librerank.so.0" ] || fail "$libdir/librerank.so is not a link to librerank.so.0"
others=$(nm -D --defined-only "$libdir/librerank.so.0" | awk '$3 !~ /^rerank_/ {print $3}')
[ -z "$others" ] || fail "librerank.so.0 exports more than rerank_*: $others"

# A program outside the source tree (no -Iinclude): the installed header and pkg-config file only.
work=$(mktemp -d)
cp examples/score.c "$work/"
cc -std=c11 -Wall -Wextra -Werror "$work/score.c" $(pkg-config --cflags --libs librerank) -o "$work/score-shared"
used=$(ldd "$work/score-shared" | awk '$1 == "librerank.so.0" {print $3}')
[ -n "$used" ] && [ "$(readlink -f "$used")" = "$(readlink -f "$libdir/librerank.so.0")" ] ||
  fail "score-shared does not load $libdir/librerank.so.0 (ldd: '${used:-nothing}')"
# the README's static line: librerank.a, then its dependencies (Requires.private), linked shared: a fully static
# libcurl would need static builds of its own dependencies, which Debian does not ship
cc -std=c11 -Wall -Wextra -Werror "$work/score.c" $(pkg-config --cflags librerank) -Wl,--as-needed -l:librerank.a \
  $(pkg-config --libs $(pkg-config --print-requires-private librerank)) -lm -lpthread -o "$work/score-static"
! ldd "$work/score-static" | grep -q librerank || fail "score-static still needs librerank.so"

s_shared=$("$work/score-shared" "$model" "$query" "$passage")
s_static=$("$work/score-static" "$model" "$query" "$passage")
s_cli=$(printf '{"query": "%s", "passage": "%s"}\n' "$query" "$passage" | /usr/bin/rerank score --model "$model" |
        sed -n 's/^{"score":\([^}]*\)}$/\1/p')
/usr/bin/rerank --help >/dev/null
awk -v a="$s_shared" -v b="$s_static" -v c="$s_cli" 'BEGIN {
  d1 = a - b; d2 = a - c; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2
  exit !(a != "" && c != "" && d1 <= 1e-6 && d2 <= 1e-6) }' ||
  fail "scores differ: shared '$s_shared', static '$s_static', CLI '$s_cli'"
rm -rf "$work"
remove
trap - EXIT
[ ! -e "$libdir/librerank.so.0" ] || fail "librerank.so.0 still there after dpkg -P"
echo "deb-check: ok (librerank0, librerank-dev, rerank $version built, installed, linked shared and static," \
  "scored $s_shared as the CLI, removed)"
