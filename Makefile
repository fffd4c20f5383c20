# The commands a newcomer types. Each installs what a fresh Debian machine lacks first.
SWIFT ?= swift

.PHONY: deps build test check-plan bench demo format

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

## Runs the whole test suite (plan loader, runner, PostgreSQL, HTTP, simulator, end to end).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## Validates the Spotify plan; needs no credentials (unset variables are warnings).
check-plan: build
	$(SWIFT) run sluice check plans/spotify-enrichment.yaml

bench: deps
	bash scripts/bench.sh

## The Spotify enrichment end to end against a throwaway PostgreSQL and the simulator.
demo: deps
	bash scripts/demo.sh

format:
	swift-format -i -r Sources Tests Package.swift
