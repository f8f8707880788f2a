#!/usr/bin/env bash
# The Debian package, installed on this machine: its files work from where
# the package put them. Run by scripts/test.sh after the suite:
#   tests/package/package_test.sh PATH/s3bd_VERSION_ARCH.deb
# Installs the package (apt-get, so its dependencies come too), then checks
# the installed binary, the man page, the systemd unit (systemd-analyze
# verify of an instance, and the order systemd gives a filesystem built on
# the disk file, from a real fstab line through systemd's own fstab
# generator) and a mount through mount(8) from an fstab line.
set -euo pipefail
deb=$(realpath "${1:?usage: package_test.sh PACKAGE.deb}")
fail() { echo "FAIL: $*" >&2; exit 1; }
WORK=$(mktemp -d /tmp/s3bd-package-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$deb" >"$WORK/apt.log" 2>&1 ||
  fail "apt-get install $deb: $(tail -3 "$WORK/apt.log")"
dpkg -s s3bd | grep -q "^Status: install ok installed" || fail "s3bd is not installed"

# The binary, from the package's path.
[[ $(dpkg -S /usr/bin/s3bd) == "s3bd: /usr/bin/s3bd" ]] || fail "/usr/bin/s3bd is not the package's"
version=$(/usr/bin/s3bd --version)
[[ $version == "s3bd $(dpkg-query -W -f '${Version}' s3bd)"* ]] || fail "s3bd --version says '$version'"
/usr/bin/s3bd --help | grep -q "mount" || fail "s3bd --help lists no mount command"

# The man page: man finds it and renders it.
[[ $(man -w s3bd) == /usr/share/man/man8/s3bd.8* ]] || fail "man -w s3bd: $(man -w s3bd 2>&1)"
MANWIDTH=80 man s3bd 2>/dev/null | grep -q "^NAME" || fail "man s3bd renders nothing"

# The unit: systemd's own checker on an instance of the template.
unit=/usr/lib/systemd/system/s3bd@.service
[[ -f $unit ]] || fail "$unit is missing"
mkdir -p "$WORK/units"
cp "$unit" "$WORK/units/s3bd@backup.service"
systemd-analyze verify "$WORK/units/s3bd@backup.service" >"$WORK/verify.log" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
[[ ! -s $WORK/verify.log ]] || fail "systemd-analyze verify complains: $(cat "$WORK/verify.log")"

# The order: the fstab line the unit's comment documents, through the
# real fstab generator, gives a mount unit that needs the s3bd unit and
# starts after it (so it stops before it).
generator=/usr/lib/systemd/system-generators/systemd-fstab-generator
[[ -x $generator ]] || generator=/lib/systemd/system-generators/systemd-fstab-generator
grep '^#   /mnt/s3bd' "$unit" | sed 's/^#   //' >"$WORK/fstab"
[[ -s $WORK/fstab ]] || fail "the unit documents no fstab line"
mkdir -p "$WORK/gen"
SYSTEMD_FSTAB=$WORK/fstab SYSTEMD_PROC_CMDLINE="" "$generator" "$WORK/gen" "$WORK/gen" "$WORK/gen" ||
  fail "systemd-fstab-generator failed"
mount_unit=$WORK/gen/srv-backup.mount
[[ -f $mount_unit ]] || fail "the generator made no srv-backup.mount: $(ls "$WORK/gen")"
grep -q "^Requires=s3bd@backup.service" "$mount_unit" || fail "srv-backup.mount does not require s3bd@backup.service"
grep -q "^After=.*s3bd@backup.service" "$mount_unit" || fail "srv-backup.mount is not ordered after s3bd@backup.service"
cp "$mount_unit" "$WORK/units/"
systemd-analyze verify "$WORK/units/srv-backup.mount" "$WORK/units/s3bd@backup.service" >"$WORK/verify2.log" 2>&1 ||
  fail "systemd-analyze verify of the pair: $(cat "$WORK/verify2.log")"

# A mount from an fstab line and with mount -t, through mount(8) and
# libfuse's mount.fuse3, which run the installed /usr/bin/s3bd (mount(8)
# resets PATH, so only the installed binary can be tested this way).
if [[ -c /dev/fuse ]]; then
  store=$WORK/store mnt=$WORK/mnt
  mkdir -p "$store" "$mnt"
  gone() {  # until no s3bd daemon serves $mnt (it flushed and exited)
    local deadline=$((SECONDS + 60))
    while pgrep -f -- "s3bd mount $store $mnt" >/dev/null; do
      ((SECONDS < deadline)) || fail "the daemon of $mnt did not exit after umount"
      sleep 0.05
    done
  }
  echo "$store $mnt fuse.s3bd size=64M,cache_size=16M,block_size=256K,stats_file=st,_netdev,nofail,x-systemd.requires=network-online.target 0 0" >"$WORK/fstab.s3bd"
  mount -T "$WORK/fstab.s3bd" "$mnt" || fail "mount from the fstab line failed"
  findmnt -rn -t fuse.s3bd "$mnt" >/dev/null || fail "$mnt is not a fuse.s3bd mount"
  [[ $(stat -c %s "$mnt/file") == $((64 << 20)) ]] || fail "the disk file is not 64 MiB"
  [[ -f $mnt/st ]] || fail "stats_file=st did not name the stats file"
  head -c $((3 << 20)) /dev/urandom >"$WORK/data"
  dd if="$WORK/data" of="$mnt/file" bs=1M oflag=direct conv=fsync status=none
  umount "$mnt"
  gone
  # mount -t, read-only: the data is there, and writes are refused.
  mount -t fuse.s3bd "$store" "$mnt" -o ro,_netdev || fail "mount -t fuse.s3bd -o ro failed"
  cmp -n $((3 << 20)) "$WORK/data" "$mnt/file" || fail "data written through the fstab mount differs"
  if dd if=/dev/zero of="$mnt/file" bs=4k count=1 conv=notrunc status=none 2>/dev/null; then
    fail "a write succeeded on the ro mount"
  fi
  umount "$mnt"
  gone
  # The unit's own command line (ExecStart, %i = an instance of this
  # test's) over /etc/s3bd/INSTANCE.conf, stopped as systemd stops it
  # (SIGTERM): the data is there and the exit status is 0.
  inst=s3bd-package-test-$$
  conf=/etc/s3bd/$inst.conf
  mkdir -p /etc/s3bd
  printf 'store = %s\nmountpoint = %s\nfile-name = unitfile\n' "$store" "$mnt" >"$conf"
  chmod 0600 "$conf"
  trap 'rm -rf "$WORK" "$conf"' EXIT
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  exec_start=${exec_start//%i/$inst}
  [[ $exec_start == "/usr/bin/s3bd mount --config $conf --foreground" ]] || fail "unexpected ExecStart: $exec_start"
  # shellcheck disable=SC2086
  $exec_start 2>"$WORK/unit.log" &
  unit_pid=$!
  deadline=$((SECONDS + 30))
  until findmnt -rn "$mnt" >/dev/null; do
    kill -0 "$unit_pid" 2>/dev/null || fail "the unit's command exited: $(cat "$WORK/unit.log")"
    ((SECONDS < deadline)) || fail "the unit's command did not mount"
    sleep 0.05
  done
  cmp -n $((3 << 20)) "$WORK/data" "$mnt/unitfile" || fail "data read through the unit's mount differs"
  kill -TERM "$unit_pid"
  wait "$unit_pid" || fail "the unit's command exited $? on SIGTERM: $(cat "$WORK/unit.log")"
  findmnt -rn "$mnt" >/dev/null && fail "still mounted after SIGTERM"
  # An fstab line naming the config file (config=): the rest comes from it.
  mount -t fuse.s3bd "$store" "$mnt" -o "config=$conf,_netdev" || fail "mount -o config= failed"
  [[ -e $mnt/unitfile ]] || fail "config= not read: $(ls "$mnt")"
  umount "$mnt"
  gone
  rm -f "$conf"
  # An unknown option is one line naming it, and nothing is mounted.
  if mount -t fuse.s3bd "$store" "$mnt" -o cache_sise=1G 2>"$WORK/err"; then fail "cache_sise was accepted"; fi
  grep -q "unknown mount option 'cache_sise'" "$WORK/err" || fail "unknown option message: $(cat "$WORK/err")"
  findmnt -rn "$mnt" >/dev/null && fail "mounted despite an unknown option"
fi

echo "PASS package ($version)"
