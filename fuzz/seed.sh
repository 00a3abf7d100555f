#!/bin/sh
# Copies the repository's sample files into fuzz/corpus/<target>/ as starting corpora.
# The corpus directories are not committed (.gitignore); run this before the first
# `cargo fuzz run`, and again whenever fixtures are added. Existing corpus files are kept.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../fixtures"
corpus="$here/corpus"

# copy TARGET FILE...: each file under its own name (prefixed by its fixture directory, so
# that equal names from different directories do not collide).
copy() {
    target=$1
    shift
    mkdir -p "$corpus/$target"
    for f in "$@"; do
        [ -f "$f" ] || continue
        dir=$(basename "$(dirname "$f")")
        cp "$f" "$corpus/$target/$dir-$(basename "$f")"
    done
}

# SIP messages: RFC 4475 torture messages and the contract's NOTIFY. (fixtures/sipp holds
# SIPp XML scenarios, not messages.)
sip="$fixtures/rfc4475/valid/*.dat $fixtures/rfc4475/invalid/*.dat $fixtures/sip/*.sip"
# shellcheck disable=SC2086
copy datagram $sip
# shellcheck disable=SC2086
copy datagram_small $sip
# shellcheck disable=SC2086
copy embedded $sip

# tcp_framer reads a first byte choosing limits and cuts (see fuzz_targets/tcp_framer.rs):
# each message is seeded with default limits and no cuts (0x00), with small limits and no
# cuts (0x80), and as a stream of two copies cut at three places (0x03 and three offsets).
mkdir -p "$corpus/tcp_framer"
for f in $sip; do
    [ -f "$f" ] || continue
    name=$(basename "$(dirname "$f")")-$(basename "$f")
    { printf '\000'; cat "$f"; } >"$corpus/tcp_framer/$name"
    { printf '\200'; cat "$f"; } >"$corpus/tcp_framer/small-$name"
    { printf '\003\001\000\100\000\377\001'; cat "$f"; printf '\r\n\r\n'; cat "$f"; } \
        >"$corpus/tcp_framer/cut-$name"
done

# Panasonic .cfg files (settings, schedules, provisioning files).
copy panasonic "$fixtures"/panasonic/*.cfg "$fixtures"/schedule/*.cfg "$fixtures"/provisioning/*.cfg


# Snom XML settings; the demo TOML too, as the target also runs the dialect detection.
copy snom "$fixtures"/schedule/*.xml "$fixtures"/demo.toml

# Inputs that once failed a target (fixtures/fuzz/README.md), each to the target its name
# starts with; a datagram is also a one-message stream for tcp_framer.
for f in "$fixtures"/fuzz/*; do
    name=$(basename "$f")
    case $name in
    datagram-*)
        for t in datagram datagram_small embedded; do
            cp "$f" "$corpus/$t/fuzz-$name"
        done
        { printf '\000'; cat "$f"; } >"$corpus/tcp_framer/fuzz-$name"
        ;;
    tcp_framer-* | panasonic-* | snom-*)
        mkdir -p "$corpus/${name%%-*}"
        cp "$f" "$corpus/${name%%-*}/fuzz-$name"
        ;;
    esac
done

for t in datagram datagram_small embedded tcp_framer panasonic snom; do
    echo "$t: $(ls "$corpus/$t" | wc -l) files in fuzz/corpus/$t"
done
