#!/bin/bash
# tfdoctor as a Slurm health check: drains this node when its GPU stack is broken, with the finding as the reason.
#
# Install as /usr/local/sbin/tfdoctor-healthcheck (mode 0755) on every GPU node, then either
#   slurm.conf:  HealthCheckProgram=/usr/local/sbin/tfdoctor-healthcheck
#                HealthCheckInterval=300
#                HealthCheckNodeState=ANY
# or run it from your Prolog script (a failing prolog also makes Slurm requeue the job).
#
# Slurm kills a HealthCheckProgram that runs longer than 60 s and does not act on its exit status, so this
# script drains the node itself and keeps tfdoctor's --timeout well under 60 s. Like NHC's "NHC:" prefix, the
# reason starts with "tfdoctor:" so that the script only ever resumes nodes it drained itself and never
# overwrites a reason a person set.
set -u

TFDOCTOR=${TFDOCTOR:-tfdoctor}
TIMEOUT=${TFDOCTOR_TIMEOUT:-45}
NODE=${SLURMD_NODENAME:-$(hostname -s)}
PREFIX="tfdoctor:"

current_reason() {
    # `scontrol show node` prints "   Reason=<text> [<user>@<time>]" for a drained node.
    scontrol show node "$NODE" 2>/dev/null | sed -n 's/^ *Reason=\(.*\) \[[^]]*\] *$/\1/p' | head -n 1
}

out=$("$TFDOCTOR" check --quiet --require-gpu --no-tf --timeout "$TIMEOUT" 2>&1)
rc=$?
reason_now=$(current_reason)

if [ "$rc" -eq 0 ]; then
    # Healthy: give back a node that this script drained earlier, and nothing else.
    case "$reason_now" in
        "$PREFIX"*) scontrol update NodeName="$NODE" State=RESUME ;;
    esac
    exit 0
fi

if [ "$rc" -ne 1 ]; then
    # 2 is a usage or internal error of tfdoctor itself: a broken tool must not take a healthy node out.
    logger -t tfdoctor "health check could not run (exit $rc): $(printf '%s' "$out" | head -n 1)" 2>/dev/null
    echo "tfdoctor health check could not run (exit $rc)" >&2
    exit 0
fi

# One line per failure; the first is the root cause when there is one. Slurm reasons are one line: keep it short.
first=$(printf '%s\n' "$out" | sed -n '/./{p;q;}')
[ -n "$first" ] || first="tfdoctor check failed (exit 1)"
reason="$PREFIX ${first:0:200}"
if [ -n "$reason_now" ] && [ "${reason_now#"$PREFIX"}" = "$reason_now" ]; then
    echo "node $NODE already drained by someone else ($reason_now); leaving the reason alone" >&2
else
    scontrol update NodeName="$NODE" State=DRAIN Reason="$reason"
fi
echo "$reason" >&2
exit 1
