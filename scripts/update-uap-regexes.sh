#!/usr/bin/env bash
# Refreshes fingerprint/data/uap-core/ from the uap-core npm package: its regexes.yaml,
# converted once to JSON (the library already parses JSON, so it needs no YAML parser) without
# the device-model rules (the library does not use them: 15 MiB of compiled regexes), and its
# licence. Usage: scripts/update-uap-regexes.sh [VERSION]   (needs npm and python3-yaml)
set -euo pipefail
version="${1:-0.18.0}"
cd "$(dirname "$0")/.."
out=fingerprint/data/uap-core
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uap-core@$version" >/dev/null && tar xzf "uap-core-$version.tgz")
python3 - "$work/package/regexes.yaml" "$out/regexes.json" <<'PY'
import json, sys, yaml
with open(sys.argv[1]) as f:
    data = yaml.safe_load(f)
data.pop("device_parsers", None)
with open(sys.argv[2], "w") as f:
    json.dump(data, f, separators=(",", ":"), ensure_ascii=False)
    f.write("\n")
PY
cp "$work/package/LICENSE" "$out/LICENSE"
echo "uap-core $version" > "$out/VERSION"
echo "updated $out to uap-core $version"
