#!/usr/bin/env bash
# check-layering.sh [ROOT] - checks the dependency direction of DESIGN.md on the #include lines of ROOT (default:
# this repository): base <- io, tok, kernels <- arch <- score <- {server, tools}; train uses arch and score;
# the server and tools/ include only the public header (include/rerank.h) and their own headers (the CLI also
# the server's entry point, server/server.h); and every function of include/rerank.h is marked RERANK_API. Prints one
# line per violation, `file:line: module includes "header" ...`, and exits 1 if there is any.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"

# The src/ modules each module may include besides itself (include/rerank.h is open to every file).
declare -A may_use=(
  [base]=""
  [io]="base"
  [hub]="base"     # model files from the Hugging Face Hub, beside io (branch hub)
  [eval]="base"    # trec_eval measures of run files (branch evalx)
  [tok]="base"
  [kernels]="base"
  [arch]="base io tok kernels"
  [score]="base io hub tok kernels arch"
  [train]="base io hub tok kernels arch score mpi"  # mpi: the shim's interface header, which dist.c dlopen()s
  [mpi]=""
  [server]=""
  [tools]=""
)
# Single headers a module may include beyond that: the CLI starts `rerank serve` through the server's entry
# point (the server itself includes only rerank.h, so the CLI still uses nothing else of the library).
declare -A may_include=(
  [tools]="server/server.h"
)
# System headers confined to one module, so that only that binary links the library behind them.
declare -A only_in=(
  ["mpi.h"]=mpi              # librerank_mpi.so is the only binary that links libmpi
  ["microhttpd.h"]=server    # the HTTP server is not part of librerank
  ["curl/curl.h"]=hub         # HTTP downloads in one module
)
# Known exceptions, "file: header", each with its reason; remove a line when its cause is gone.
exceptions=(
  # a development helper that synthesises the quick start's tiny model with the library's safetensors
  # writer (the public API reads models; it has no writer); not part of the CLI
  "tools/make_example_model.c: io/safetensors.h"
  # rerank eval --qrels/--run and rerank trec read TREC/BEIR files and compute trec_eval's measures with
  # src/eval, which no public function exposes yet (a rerank_trec_eval API would remove these three)
  "tools/cli_eval.c: eval/trec_eval.h"
  "tools/cli_trec.c: eval/collection.h"
  "tools/cli_trec.c: eval/trec_eval.h"
)
used_exceptions=" "

is_exception() {
  local e
  for e in "${exceptions[@]}"; do
    if [ "$e" = "$1: $2" ]; then used_exceptions+="$e|"; return 0; fi
  done
  return 1
}

bad=0
report() { echo "$1"; bad=1; }

while IFS= read -r file; do
  case $file in
    src/*) module=${file#src/}; module=${module%%/*} ;;
    tools/*) module=tools ;;
    *) continue ;;
  esac
  if [ -z "${may_use[$module]+set}" ]; then
    report "$file: module '$module' is not in scripts/check-layering.sh's table (add it with its allowed modules)"
    continue
  fi
  while IFS=: read -r line kind header; do
    if [ "$kind" = sys ]; then
      owner=${only_in[$header]:-}
      if [ -n "$owner" ] && [ "$owner" != "$module" ]; then
        report "$file:$line: $module includes <$header>, which only src/$owner/ may include"
      fi
      continue
    fi
    [ "$header" = rerank.h ] && continue
    is_exception "$file" "$header" && continue
    if [[ $header != */* ]]; then
      # a bare name is the including file's own folder (the compiler looks there first)
      [ -f "$(dirname "$file")/$header" ] && continue
      report "$file:$line: $module includes \"$header\", which is neither rerank.h nor in its own folder"
      continue
    fi
    [[ " ${may_include[$module]:-} " == *" $header "* ]] && continue
    target=${header%%/*}
    if [ "$target" = "$module" ] && [ "${file%%/*}" = src ]; then continue; fi
    allowed=" ${may_use[$module]} "
    if [[ $allowed == *" $target "* ]]; then continue; fi
    if [ "$module" = tools ] || [ "$module" = server ]; then
      report "$file:$line: $module includes \"$header\"; the CLI and the server use only the public rerank.h"
    else
      report "$file:$line: $module includes \"$header\"; $module may use: ${may_use[$module]:-nothing below it}"
    fi
  done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include' "$file" |
           sed -E -e 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1:quote:\2/' \
                  -e 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*<([^>]+)>.*/\1:sys:\2/')
done < <(find src tools -name '*.[ch]' 2>/dev/null | sort)

# Every function of the public header is exported: declared with RERANK_API (librerank.so hides the rest).
if [ -f include/rerank.h ]; then
  while IFS=: read -r line decl; do
    report "include/rerank.h:$line: public function without RERANK_API: $decl"
  done < <(grep -n -E '^[A-Za-z_][A-Za-z0-9_ ]*[ *]rerank_[a-z0-9_]+\(' include/rerank.h |
           grep -v -E '^[0-9]+:RERANK_API ' || true)
fi

for e in "${exceptions[@]}"; do
  [[ $used_exceptions == *"$e|"* ]] ||
    echo "note: the exception \"$e\" in scripts/check-layering.sh is no longer needed: remove it"
done
exit $bad
