#!/usr/bin/env bash
# logrun.sh LOG CMD [ARG...]: run one pipeline stage, logging to LOG (Kaldi run.pl style):
#   # command: <the command line>
#   # started: <UTC time>
#   <everything the command prints on stdout and stderr>
#   # ended: <UTC time> (exit code N), elapsed Ns
# The command's output is also shown on the terminal (prefixed by the stage name); the exit code
# is passed through so Make stops (and .DELETE_ON_ERROR removes the target) on failure.
set -u
log=$1; shift
mkdir -p "$(dirname "$log")"
stage=$(basename "$log" .log)
start=$(date +%s.%N)
{
  printf '# command: %s\n' "$*"
  printf '# started: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$log"
set -o pipefail
"$@" 2>&1 | tee -a "$log" | sed -u "s/^/[$stage] /"
rc=${PIPESTATUS[0]}
end=$(date +%s.%N)
printf '# ended: %s (exit code %d), elapsed %.1fs\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rc" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" >>"$log"
[ "$rc" = 0 ] || echo "[$stage] FAILED (exit $rc); log: $log" >&2
exit "$rc"
