#!/usr/bin/env bash
# Runs one fuzz target for a given time: ci/fuzz.sh TARGET SECONDS
#
# Targets (tests/fuzz/fuzz_targets/): smtp_session, scenario_parser, smime_reader, signed_part,
# imap_session, pop3_session, ldap_session.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Not part of
# ci/test.sh: the inputs that once broke something run there as regression tests instead.
#
# Seeds come from the project itself: the scenario files, the raw SMTP sessions the sink
# scenarios send, the malformed corpus, every message the scenarios exchange (exported with
# `kmlab run --artifacts`), and every committed regression input. What the fuzzer learns is
# kept in tests/fuzz/corpus/TARGET; a crash is written to tests/fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

# The whole script is read before any of it runs (main is called on the last line), so editing
# this file during a long run cannot change what that run does.
main() {
    usage="usage: ci/fuzz.sh smtp_session|scenario_parser|smime_reader|signed_part|imap_session|pop3_session|ldap_session SECONDS"
    target=${1:?$usage}
    seconds=${2:?$usage}
    case "$target" in
        smtp_session | scenario_parser | smime_reader | signed_part | imap_session | pop3_session | ldap_session) ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac

    fuzz=tests/fuzz
    seeds=$fuzz/seeds/$target
    corpus=$fuzz/corpus/$target
    rm -rf "$seeds"
    mkdir -p "$seeds" "$corpus"

    # The messages the built-in scenarios exchange, once per checkout.
    messages=$fuzz/seeds/messages
    if [ ! -d "$messages" ]; then
        artifacts=$(mktemp -d)
        cargo run --locked -q -p cli -- run --artifacts "$artifacts" scenarios >/dev/null || true
        mkdir -p "$messages"
        find "$artifacts" -name '*.eml' | sort | while read -r eml; do
            cp "$eml" "$messages/$(echo "$eml" | sha256sum | cut -c1-16).eml"
        done
        rm -rf "$artifacts"
    fi

    # A seed for the S/MIME reader is a mode byte then the bytes (0: a whole message).
    prefixed() {
        local mode=$1 source=$2 name
        name=$(basename "$source")
        { printf "\\x$mode"; cat "$source"; } >"$seeds/$mode-$name"
    }

    case "$target" in
        scenario_parser)
            find scenarios -name '*.toml' | while read -r file; do
                cp "$file" "$seeds/$(echo "$file" | tr / _)"
            done
            ;;
        smtp_session)
            # Each raw session a sink scenario sends, after a byte that sets how it is cut.
            python3 - "$seeds" <<'EOF'
import pathlib, sys, tomllib
out = pathlib.Path(sys.argv[1])
for path in sorted(pathlib.Path("scenarios").rglob("*.toml")):
    for n, step in enumerate(tomllib.loads(path.read_text()).get("step", [])):
        if step.get("action") == "smtp-session":
            name = f"{path.stem}-{n}"
            (out / name).write_bytes(bytes([n % 16]) + step["input"].encode())
EOF
            ;;
        smime_reader)
            for eml in tests/corpus/malformed/*.eml "$messages"/*.eml; do
                prefixed 00 "$eml"
            done
            # The DER inside them too, behind the mode byte that wraps it back up: 1 for an
            # enveloped body, 2 for a signed one, 3 for a detached signature.
            python3 - "$seeds" tests/corpus/malformed "$messages" <<'EOF'
import email, hashlib, pathlib, sys
out = pathlib.Path(sys.argv[1])
for folder in sys.argv[2:]:
    for path in sorted(pathlib.Path(folder).glob("*.eml")):
        try:
            parts = list(email.message_from_bytes(path.read_bytes()).walk())
        except RecursionError:
            # Python's parser gives up on the corpus's thousand nested multiparts.
            continue
        for part in parts:
            kind = part.get_content_type()
            signed = "signed" in part.get("Content-Type", "")
            mode = {"application/pkcs7-mime": 2 if signed else 1,
                    "application/pkcs7-signature": 3}.get(kind)
            der = part.get_payload(decode=True) if mode else None
            if der:
                name = hashlib.sha256(der).hexdigest()[:16]
                (out / f"der-{mode}-{name}").write_bytes(bytes([mode]) + der)
EOF
            ;;
        signed_part)
            cp tests/corpus/malformed/*.eml "$messages"/*.eml "$seeds/"
            ;;
        imap_session)
            # A whole session a client might hold: login, select, fetch, search, store, append.
            printf 'a LOGIN alice secret\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS BODY[] BODYSTRUCTURE ENVELOPE)\r\nd UID SEARCH UNSEEN\r\ne STORE 1 +FLAGS (\\Deleted)\r\nf APPEND Sent {5}\r\nhi\r\n\r\ng EXPUNGE\r\nh IDLE\r\nDONE\r\ni LOGOUT\r\n' >"$seeds/session"
            printf 'a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nb STATUS INBOX (MESSAGES UIDNEXT)\r\n' >"$seeds/authenticate"
            ;;
        pop3_session)
            printf 'CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n' >"$seeds/session"
            ;;
        ldap_session)
            # An anonymous bind, then a search for everything under the base (BER).
            printf '\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00' >"$seeds/bind"
            printf '\x30\x25\x02\x01\x02\x63\x20\x04\x09o=Example\x0a\x01\x02\x0a\x01\x00\x02\x01\x00\x02\x01\x00\x01\x01\x00\x87\x0bobjectClass\x30\x00' >"$seeds/search"
            ;;
    esac
    if [ -d "$fuzz/regressions/$target" ]; then
        cp "$fuzz/regressions/$target"/* "$seeds/"
    fi

    # One core, a memory ceiling well above what any input should cost, and ten seconds before an
    # input counts as a hang.
    cargo +nightly fuzz run --fuzz-dir "$fuzz" "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
}

main "$@"
exit
