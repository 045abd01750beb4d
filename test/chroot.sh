# test/chroot.sh: Debian chroots with another PostgreSQL major version, for
# test/run --pg N and --all (sourced by test/run, whose bi_apt_get it uses
# on the machine itself; needs root).
#
#   bi_chroot_suite N          the Debian suite that ships PostgreSQL N
#   bi_chroot_ensure N         make (first use), refresh (stale) or reuse the
#                              chroot of PostgreSQL N; prints its path
#   bi_chroot_run DIR CMD...   run CMD inside chroot DIR, with /proc, /dev,
#                              /dev/pts and /dev/shm bind-mounted (unmounted
#                              on every exit path) and, when
#                              BI_CHROOT_NONET=1, in a network namespace of
#                              its own (loopback only: its clusters' ports
#                              meet no one else's)
#   bi_chroot_locked N CMD...  CMD holding the run lock of PostgreSQL N's
#                              chroot
#
# Chroots live under $BATCHINTORY_CHROOTS (default
# /var/cache/batchintory-chroots), one per suite, outside the repository.
# A chroot older than $BATCHINTORY_CHROOT_MAX_AGE days (default 7) is
# refreshed (apt-get update, upgrade); one that cannot be made is an error
# that names the step that failed.

BI_CHROOTS=${BATCHINTORY_CHROOTS:-/var/cache/batchintory-chroots}
BI_CHROOT_MAX_AGE=${BATCHINTORY_CHROOT_MAX_AGE:-7}

bi_chroot_suite() {
	case $1 in
	15) echo bookworm ;;
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

# the Debian mirror: $BATCHINTORY_MIRROR, else the machine's own apt source
bi_chroot_mirror() {
	if [ -n "${BATCHINTORY_MIRROR:-}" ]; then
		echo "$BATCHINTORY_MIRROR"
		return
	fi
	local uri
	uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit } $1 == "deb" { print $3; exit }' /etc/apt/sources.list 2>/dev/null)
	echo "${uri:-http://deb.debian.org/debian}"
}

# the packages a chroot of PostgreSQL N needs for every suite of test/run
# (the pg_cron package only where the suite has one: bi_chroot_ensure checks)
bi_chroot_packages() {
	local v=$1
	echo "postgresql-$v postgresql-server-dev-$v libpq-dev make gcc libc6-dev" \
		"libipc-run-perl python3 python3-psycopg python3-pytest python3-distributed" \
		"python3-pandas python3-setuptools python3-wheel python3-pip python3-venv" \
		"tmux binutils groff-base iproute2 procps"
}

# bi_chroot_mount DIR / bi_chroot_umount DIR
bi_chroot_mount() {
	local dir=$1 m
	for m in proc dev dev/pts dev/shm; do
		mkdir -p "$dir/$m"
		mountpoint -q "$dir/$m" && continue
		mount --bind "/$m" "$dir/$m" || return 1
	done
}
bi_chroot_umount() {
	local dir=$1 m
	for m in dev/shm dev/pts dev proc; do
		if mountpoint -q "$dir/$m" 2>/dev/null; then
			umount "$dir/$m" 2>/dev/null || umount -l "$dir/$m"
		fi
	done
}

# bi_chroot_run DIR CMD...: in a subshell, so that its trap unmounts on
# every exit path (an error, a signal, the command's end)
bi_chroot_run() (
	dir=$1; shift
	trap 'bi_chroot_umount "$dir"' EXIT
	trap 'exit 130' INT TERM HUP
	bi_chroot_mount "$dir" || { echo "chroot $dir: could not mount /proc, /dev, /dev/pts, /dev/shm" >&2; exit 1; }
	if [ "${BI_CHROOT_NONET:-0}" = 1 ]; then
		unshare --net -- chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			LANG=C.UTF-8 HOME=/root TERM="${TERM:-dumb}" CI="${CI:-}" \
			/bin/sh -c 'ip link set dev lo up && exec "$@"' sh "$@"
	else
		chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			LANG=C.UTF-8 HOME=/root TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive "$@"
	fi
)

# bi_chroot_locked N CMD...: CMD while holding the run lock of the chroot of
# PostgreSQL N.  A run there installs the extension into the chroot's
# PostgreSQL: two runs at once (from two work trees) would test each
# other's build.
bi_chroot_locked() {
	local lock
	lock="$BI_CHROOTS/$(bi_chroot_suite "$1").run.lock"
	shift
	(
		flock -n 8 || { echo "== waiting for another test run in the same chroot ($lock)"; flock 8; }
		"$@"
	) 8>"$lock"
}

# bi_chroot_apt DIR ARGS...: apt-get inside the chroot, quietly
bi_chroot_apt() {
	local dir=$1; shift
	bi_chroot_run "$dir" apt-get -y -q -o Dpkg::Use-Pty=0 "$@"
}

# bi_chroot_ensure N: the path of a ready chroot with PostgreSQL N; made on
# first use, refreshed when older than BI_CHROOT_MAX_AGE days, and the
# packages it lacks installed.  Progress and errors go to stderr; the log of
# the making to $BI_CHROOTS/SUITE.log.
bi_chroot_ensure() {
	local v=$1 suite dir log mirror pkgs
	suite=$(bi_chroot_suite "$v") || { echo "no Debian suite known for PostgreSQL $v (15: bookworm, 17: trixie, 18: sid)" >&2; return 1; }
	dir="$BI_CHROOTS/$suite"
	log="$BI_CHROOTS/$suite.log"
	mkdir -p "$BI_CHROOTS" || { echo "cannot create $BI_CHROOTS" >&2; return 1; }
	mirror=$(bi_chroot_mirror)
	(
		# one maker at a time per suite
		flock 9
		if [ ! -f "$dir/.batchintory-ready" ]; then
			command -v debootstrap >/dev/null || {
				echo "== installing debootstrap" >&2
				DEBIAN_FRONTEND=noninteractive bi_apt_get install -y -qq debootstrap >>"$log" 2>&1 ||
					{ bi_apt_get update -qq >>"$log" 2>&1 && DEBIAN_FRONTEND=noninteractive bi_apt_get install -y -qq debootstrap >>"$log" 2>&1; } ||
					{ echo "could not install debootstrap on this machine (apt-get install debootstrap failed; see $log)" >&2; exit 1; }
			}
			# a half-made chroot (an interrupted making) goes; never
			# while anything is still mounted in it
			bi_chroot_umount "$dir"
			if grep -q " $dir/" /proc/mounts; then
				echo "could not remake the $suite chroot: something is still mounted under $dir" >&2
				exit 1
			fi
			rm -rf --one-file-system "$dir"
			echo "== making the $suite chroot for PostgreSQL $v in $dir (debootstrap from $mirror)" >&2
			local t0=$SECONDS
			if ! debootstrap --variant=minbase "$suite" "$dir" "$mirror" >>"$log" 2>&1; then
				echo "could not make the $suite chroot: debootstrap --variant=minbase $suite $dir $mirror failed (is the mirror reachable? see $log):" >&2
				tail -n 5 "$log" >&2
				exit 1
			fi
			# the mirror's snapshots may be past their Valid-Until date;
			# no service may start inside the chroot
			echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99batchintory"
			printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
			chmod 755 "$dir/usr/sbin/policy-rc.d"
			echo "== debootstrap $suite: $((SECONDS - t0)) s" >&2
			touch "$dir/.batchintory-updated"
		elif [ -n "$(find "$dir/.batchintory-updated" -mtime +"$BI_CHROOT_MAX_AGE" 2>/dev/null)" ]; then
			echo "== refreshing the $suite chroot (older than $BI_CHROOT_MAX_AGE days)" >&2
			rm -f "$dir/.batchintory-ready"
			bi_chroot_apt "$dir" update >>"$log" 2>&1 &&
				bi_chroot_apt "$dir" dist-upgrade >>"$log" 2>&1 ||
				{ echo "could not refresh the $suite chroot: apt-get update/dist-upgrade failed inside it (see $log)" >&2; exit 1; }
			touch "$dir/.batchintory-updated"
		fi
		# the packages it lacks (all of them on first use)
		pkgs=$(bi_chroot_packages "$v")
		if bi_chroot_run "$dir" sh -c "apt-cache show postgresql-$v-cron" >/dev/null 2>&1 ||
			{ bi_chroot_apt "$dir" update >>"$log" 2>&1 &&
				bi_chroot_run "$dir" sh -c "apt-cache show postgresql-$v-cron" >/dev/null 2>&1; }; then
			pkgs="$pkgs postgresql-$v-cron"
		else
			echo "== $suite has no postgresql-$v-cron: the pg_cron test will be skipped there" >&2
		fi
		# shellcheck disable=SC2086
		if ! bi_chroot_run "$dir" dpkg -s $pkgs >/dev/null 2>&1; then
			local t1=$SECONDS
			echo "== installing PostgreSQL $v and the test tools in the $suite chroot" >&2
			# shellcheck disable=SC2086
			if ! { bi_chroot_apt "$dir" update >>"$log" 2>&1 &&
				bi_chroot_apt "$dir" install --no-install-recommends $pkgs >>"$log" 2>&1; }; then
				echo "could not install PostgreSQL $v in the $suite chroot: apt-get install failed inside it (see $log):" >&2
				tail -n 5 "$log" >&2
				exit 1
			fi
			echo "== packages in $suite: $((SECONDS - t1)) s" >&2
		fi
		touch "$dir/.batchintory-ready"
	) 9>"$BI_CHROOTS/$suite.lock" || return 1
	echo "$dir"
}
