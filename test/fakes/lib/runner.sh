#!/bin/sh
# Runs one fake batch job in the background (started detached by the fake submit commands):
#   $1 run dir of the job (markers: start, pid, end, exit; `removed` written by the fake cancel commands)
#   $2 job script   $3 start delay in seconds   $4 longest run time in seconds
# The script runs in its own session/process group (setsid), so a cancel can signal the whole job.
d=$1
now_ms() { date +%s%3N; }
put() { printf '%s\n' "$2" > "$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"; }
[ "$3" = "0" ] || sleep "$3"
[ -e "$d/removed" ] && exit 0
put start "$(now_ms)"
setsid /bin/sh "$2" </dev/null >/dev/null 2>&1 &
pid=$!
put pid "$pid"
[ -e "$d/removed" ] && kill -TERM -"$pid" 2>/dev/null
setsid /bin/sh -c 'sleep "$0"; kill -KILL -"$1" 2>/dev/null' "$4" "$pid" </dev/null >/dev/null 2>&1 &
wd=$!
wait "$pid"
rc=$?
kill -KILL -"$wd" 2>/dev/null
put end "$(now_ms)"
put exit "$rc"
