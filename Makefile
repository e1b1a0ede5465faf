# make run     full local demo: Keycloak + registry-stack in keycloak mode
# make check   quick checks, no root, no Keycloak, no browser: gofmt, go vet,
#              staticcheck, the Go unit tests, the UI's node tests
# make race    the Go tests of ./internal/... with the race detector
# make fuzz    every Go fuzz target for FUZZTIME each (default 7s), one
#              after the other: make fuzz FUZZTIME=5m
# make test    every test, exactly what CI runs (installs what it needs as
#              root, starts its own Keycloak)
# make build   the static binary ./registry-stack
.PHONY: run check race fuzz test build

run:
	scripts/demo.sh

check:
	scripts/check.sh

race:
	scripts/check.sh race

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

test:
	scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o registry-stack ./cmd/registry-stack
