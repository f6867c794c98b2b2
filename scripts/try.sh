#!/usr/bin/env bash
# Try runctrl: install what is missing, build, start a local InfluxDB 1.x (127.0.0.1, data under
# .runctrl/influxdb; reused when running), apply the sample campaign, inject an era from the bundled
# sample run registry, run every workflow to done on the local backend (`automation --until-done`), then
# print the status table, the outputs of one workflow and where the job logs are. Safe to run again:
# `apply` is idempotent and `inject` (mode missing) keeps the progress of runs already injected.
#
#   bash scripts/try.sh            (as root on a fresh Debian machine, so missing packages get installed)
#
# Environment: RUNCTRL_DB (default ecal_rerecos_v1), TRY_ERA (default Run2024C),
# TRY_CAMPAIGN_FILE (default campaigns/rereco_2024.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DB=${RUNCTRL_DB:-ecal_rerecos_v1}
ERA=${TRY_ERA:-Run2024C}
FILE=${TRY_CAMPAIGN_FILE:-campaigns/rereco_2024.json}
INFLUX_DIR=.runctrl/influxdb
# the try-it keeps its job files next to its InfluxDB data, inside the repository
export RUNCTRL_STATE_DIR=${RUNCTRL_STATE_DIR:-$PWD/.runctrl/state}

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "installing what is missing"
bash scripts/setup.sh
say "building"
npm run --silent build
say "starting InfluxDB (data under $INFLUX_DIR)"
URL=$(bash scripts/influxdb.sh up "$INFLUX_DIR" | tail -n 1)
echo "InfluxDB at $URL"

export RUNCTRL_INFLUXDB_URL=$URL
export RUNCTRL_DB=$DB
CAMPAIGN=$(node -e 'console.log(JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).campaign)' "$FILE")
runctrl() { node bin/runctrl.js "$@"; }

say "runctrl --db $DB apply $FILE"
runctrl apply "$FILE"
say "runctrl --db $DB inject --campaign $CAMPAIGN --era $ERA"
runctrl inject --campaign "$CAMPAIGN" --era "$ERA"
say "runctrl --db $DB automation --until-done --campaign $CAMPAIGN   (local jobs, as many at once as the machine has cores)"
runctrl automation --until-done --campaign "$CAMPAIGN"
say "runctrl --db $DB status --campaign $CAMPAIGN --limit 15"
runctrl status --campaign "$CAMPAIGN" --limit 15
say "runctrl --db $DB outputs --campaign $CAMPAIGN --workflow pi0-mon --era $ERA   (first lines)"
runctrl outputs --campaign "$CAMPAIGN" --workflow pi0-mon --era "$ERA" | head -n 9 || true
echo "Job scripts, stdout, stderr and exit codes: $RUNCTRL_STATE_DIR/jobs/$CAMPAIGN/<workflow>/<unit>/a<attempt>/"

cat <<HINT

InfluxDB keeps running at $URL. To go on:
  export RUNCTRL_INFLUXDB_URL=$URL RUNCTRL_DB=$DB RUNCTRL_STATE_DIR=$RUNCTRL_STATE_DIR
  node bin/runctrl.js list
  node bin/runctrl.js jobs --campaign $CAMPAIGN --workflow ic-combi --logs
  node bin/runctrl.js reprocess --campaign $CAMPAIGN --workflow pi0-mon --era $ERA --mode all
  node bin/runctrl.js automation --daemon    # a long-running loop: jobs start as soon as what they need is done
  node bin/runctrl.js --help
Stop it with: bash scripts/influxdb.sh down $INFLUX_DIR   (data kept; 'purge' deletes it)

Dashboard: RUNCTRL_INFLUXDB_URL=$URL RUNCTRL_DB=$DB node bin/runctrl.js serve   # then open http://127.0.0.1:8080/
HINT
