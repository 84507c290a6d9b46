#!/bin/sh
# One-shot: map the InfluxQL database "envmon" (retention policy autogen) onto the bucket
# envmon, so the v1 /write and /query API (envmon, Grafana's InfluxQL datasource) works on
# InfluxDB 2.x. Idempotent: does nothing when the mapping exists.
set -eu
: "${INFLUX_HOST:=http://influxdb:8086}"
export INFLUX_HOST INFLUX_TOKEN="$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN" INFLUX_ORG="$DOCKER_INFLUXDB_INIT_ORG"
i=0
until influx ping >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -gt 60 ] && { echo "influxdb did not come up" >&2; exit 1; }; sleep 2
done
if influx v1 dbrp list --db envmon --hide-headers 2>/dev/null | grep -q envmon; then
  echo "DBRP envmon/autogen exists"; exit 0
fi
bucket_id=$(influx bucket list --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --db envmon --rp autogen --bucket-id "$bucket_id" --default
echo "DBRP envmon/autogen -> bucket $DOCKER_INFLUXDB_INIT_BUCKET ($bucket_id)"
