# Sourced by scripts/influxdb.sh and scripts/slurm.sh: a free TCP port on 127.0.0.1.
#
# free_port [AVOID]  a port nobody listens on, not AVOID, below the kernel's ephemeral range: a port picked in
#                    that range may be taken as the source port of an outgoing connection before the server
#                    binds it. The servers still retry on other ports when a bind fails.
free_port() {
  local avoid=${1:-} p lo
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "${lo:-0}" -gt 12000 ] 2>/dev/null || lo=32768
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (lo - 10000)))
    [ "$p" = "$avoid" ] && continue
    if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}
