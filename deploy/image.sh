#!/usr/bin/env bash
# Builds the container image (deploy/Dockerfile) where a Docker engine answers; elsewhere it says
# so and builds the static binary the image holds, so that the build itself is still checked.
set -euo pipefail
IMAGE=${IMAGE:-sipfed-proxy:${VERSION:-dev}}
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
	exec docker build -f deploy/Dockerfile --build-arg VERSION="${VERSION:-dev}" -t "$IMAGE" .
fi
echo "make image: no Docker engine here ($(command -v docker >/dev/null && echo 'docker info fails' || echo 'no docker client')); the image is not built." >&2
echo "make image: building the static binary the image holds instead: bin/sipfed-proxy-static" >&2
CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags "-s -w -X main.version=${VERSION:-dev}" -o bin/sipfed-proxy-static ./proxy/cmd/sipfed-proxy
