# Helpers for mount tests against a real Ceph RADOS Gateway (sourced after
# s3_lib.sh): a private one-mon, one-OSD (memstore) cluster without cephx
# under $WORK, everything bound to 127.0.0.1, and radosgw on a free loopback
# port. RGW checks SigV4 signatures for real, against the user it creates.
# Needs Debian's ceph-mon, ceph-osd and radosgw (scripts/install-deps.sh).
# Sets S3_ENDPOINT and the AWS_* credentials; stop_rgw kills the daemons.
RGW_PIDS=()

require_rgw() {
  local b
  for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph uuidgen; do
    command -v "$b" >/dev/null || fail "$b is missing (scripts/install-deps.sh installs ceph-mon, ceph-osd, radosgw)"
  done
  [[ -n $AWS ]] || fail "the AWS CLI is missing (scripts/install-deps.sh installs awscli)"
}

# rgw_fail MESSAGE: fails with the tail of every Ceph log.
rgw_fail() {
  local f
  for f in "$CEPH_DIR"/log/*; do
    [[ -f $f ]] && { echo "--- $f"; tail -20 "$f"; } >&2
  done
  fail "$*"
}

# start_rgw BUCKET: a fresh cluster and radosgw with user "test" and BUCKET.
start_rgw() {
  local bucket=$1
  require_rgw
  CEPH_DIR=$WORK/ceph
  mkdir -p "$CEPH_DIR"/{mon,osd,run,log,rgw}
  local fsid mon_port rgw_port osd_uuid osd_id
  fsid=$(uuidgen)
  mon_port=$(closed_port)
  rgw_port=$(closed_port)
  while [[ $rgw_port == "$mon_port" ]]; do rgw_port=$(closed_port); done
  export CEPH_CONF=$CEPH_DIR/ceph.conf
  cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_port]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = 1073741824
run_dir = $CEPH_DIR/run
admin_socket = $CEPH_DIR/run/\$name.asok
log_file = $CEPH_DIR/log/\$name.log
mon_data = $CEPH_DIR/mon
osd_data = $CEPH_DIR/osd
rgw_data = $CEPH_DIR/rgw
keyring = $CEPH_DIR/keyring
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
EOF
  local started=$SECONDS deadline=$((SECONDS + 90))
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$CEPH_DIR/monmap" >/dev/null ||
    rgw_fail "monmaptool failed"
  ceph-mon --mkfs -i a --monmap "$CEPH_DIR/monmap" >"$CEPH_DIR/log/mkfs-mon.out" 2>&1 || rgw_fail "ceph-mon --mkfs failed"
  ceph-mon -f -i a >"$CEPH_DIR/log/mon.out" 2>&1 &
  RGW_PIDS+=($!)
  # Every ceph command with a timeout, so that a dead mon cannot hang the test.
  osd_uuid=$(uuidgen)
  osd_id=$(ceph --connect-timeout 30 osd new "$osd_uuid" 2>>"$CEPH_DIR/log/ceph.out") || rgw_fail "ceph osd new failed"
  ceph-osd --mkfs -i "$osd_id" --osd-uuid "$osd_uuid" >"$CEPH_DIR/log/mkfs-osd.out" 2>&1 || rgw_fail "ceph-osd --mkfs failed"
  ceph-osd -f -i "$osd_id" >"$CEPH_DIR/log/osd.out" 2>&1 &
  RGW_PIDS+=($!)
  until ceph --connect-timeout 10 osd stat 2>/dev/null | grep -q ' 1 up'; do
    ((SECONDS < deadline)) || rgw_fail "the OSD did not come up"
    sleep 0.2
  done
  radosgw -f -n client.rgw >"$CEPH_DIR/log/rgw.out" 2>&1 &
  RGW_PIDS+=($!)
  local pid=$!
  S3_ENDPOINT=http://127.0.0.1:$rgw_port
  until curl -s -o /dev/null "$S3_ENDPOINT/"; do
    kill -0 "$pid" 2>/dev/null || rgw_fail "radosgw exited"
    ((SECONDS < deadline)) || rgw_fail "radosgw did not answer at $S3_ENDPOINT"
    sleep 0.2
  done
  radosgw-admin user create --uid test --display-name test --access-key RGWTESTKEY --secret RGWTESTSECRET \
    >"$CEPH_DIR/log/user.out" 2>&1 || rgw_fail "radosgw-admin user create failed: $(cat "$CEPH_DIR/log/user.out")"
  export AWS_ACCESS_KEY_ID=RGWTESTKEY AWS_SECRET_ACCESS_KEY=RGWTESTSECRET AWS_REGION=us-east-1
  aws_s3 s3 mb "s3://$bucket" >/dev/null || rgw_fail "cannot create bucket $bucket"
  echo "radosgw ${RGW_PIDS[*]} at $S3_ENDPOINT (started in $((SECONDS - started)) s)"
}

# stop_rgw: kills radosgw, the OSD and the mon (in that order) and waits; the
# cluster is thrown away, so no clean shutdown.
stop_rgw() {
  local i
  for ((i = ${#RGW_PIDS[@]} - 1; i >= 0; i--)); do
    kill -KILL "${RGW_PIDS[i]}" 2>/dev/null || true
    wait "${RGW_PIDS[i]}" 2>/dev/null || true
  done
  RGW_PIDS=()
}
