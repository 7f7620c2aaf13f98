#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (CPU only, Release) from the llama.cpp that the pinned
# llama-cpp-python sdist on PyPI vendors, into a cache outside the clone keyed by that version,
# so a second CI run reuses it. Prints the binary's path on its last line of stdout.
#
# Usage: .ci/llama-build.sh PYTHON
#   PYTHON  a venv's python with pip; the build tool (cmake) is installed into that venv.
# Env:    MST_LLAMA_CACHE  cache root (default $HOME/.cache/mst-search/llama)
#
# Only the sdist is fetched (`--no-binary llama-cpp-python`, not `:all:`: the latter would
# also build pip's build tools, cmake among them, from source). The server's web UI is neither
# built (npm) nor downloaded: the binary serves the API only.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
CMAKE_VERSION=4.4.4

python="${1:?usage: .ci/llama-build.sh PYTHON}"
root="${MST_LLAMA_CACHE:-$HOME/.cache/mst-search/llama}"
dest="$root/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION"
bin="$dest/bin/llama-server"

if [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; then
  echo "llama-server $LLAMA_CPP_PYTHON_VERSION: cached" >&2
  echo "$bin"
  exit 0
fi

start=$SECONDS
venv_bin="$(dirname "$python")"
if ! "$venv_bin/cmake" --version >/dev/null 2>&1; then
  "$python" -m pip install --quiet --disable-pip-version-check "cmake==$CMAKE_VERSION"
fi

work="$root/build-$LLAMA_CPP_PYTHON_VERSION"
rm -rf "$work"
mkdir -p "$work"
"$python" -m pip download --quiet --disable-pip-version-check --no-deps \
  --no-binary llama-cpp-python -d "$work" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
tar -xzf "$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$work"
src="$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"

# GGML_NATIVE=OFF: the cached binary must not depend on this machine's exact CPU.
"$venv_bin/cmake" -S "$src" -B "$work/build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_OPENSSL=OFF >&2
"$venv_bin/cmake" --build "$work/build" --target llama-server -j "$(nproc)" >&2

mkdir -p "$dest/bin"
cp "$work/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
rm -rf "$work"
"$bin" --version >&2
echo "llama-server $LLAMA_CPP_PYTHON_VERSION: built in $((SECONDS - start)) s" >&2
echo "$bin"
