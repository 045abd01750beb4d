#!/bin/sh
# client/install-link.sh install|uninstall DESTDIR TARGET LINK
#
# The Makefile's install-client installs the client and its manual page
# next to psql's (pg_config --bindir, --mandir), which on Debian are not on
# PATH and MANPATH (/usr/lib/postgresql/N/bin); this puts a relative
# symbolic link LINK -> TARGET in $(prefix)/bin and $(prefix)/share/man/man1
# (/usr/bin, /usr/share/man/man1), so that "batchintory" and "man
# batchintory" work as psql's do, also under cron's PATH (/usr/bin:/bin).
# Both paths are without DESTDIR, which is prepended.
#
# Safe to run again: nothing is done when LINK is TARGET (a bindir on the
# PATH already); a LINK that exists is replaced only if it is a symbolic
# link to a file of the same name (an earlier install, maybe for another
# PostgreSQL version: the last install wins), anything else is left alone
# with a warning.  uninstall removes LINK only if it points to TARGET.
set -eu

action=$1 destdir=$2 target=$3 link=$4
[ "$target" != "$link" ] || exit 0

name=$(basename "$target")
case $action in
install)
	if [ -L "$destdir$link" ]; then
		old=$(readlink "$destdir$link")
		if [ "$(basename "$old")" != "$name" ]; then
			echo "install-link: $link links to $old: left alone ($name is in $(dirname "$target"))" >&2
			exit 0
		fi
	elif [ -e "$destdir$link" ]; then
		echo "install-link: $link exists and is not a symbolic link: left alone ($name is in $(dirname "$target"))" >&2
		exit 0
	fi
	mkdir -p "$(dirname "$destdir$link")"
	ln -sfr "$destdir$target" "$destdir$link"
	;;
uninstall)
	if [ -L "$destdir$link" ] &&
		[ "$(readlink -m "$destdir$link")" = "$(readlink -m "$destdir$target")" ]; then
		rm -f "$destdir$link"
	fi
	;;
*)
	echo "usage: $0 install|uninstall DESTDIR TARGET LINK" >&2
	exit 2
	;;
esac
