# The two commands: `make run` starts a full local demo, `make test` runs
# every test (what CI runs).
.PHONY: run test build

run:
	scripts/demo.sh

test:
	scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o registry-stack ./cmd/registry-stack
