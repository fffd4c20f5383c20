# The commands a newcomer types. Each installs what a fresh Debian machine lacks first.
SWIFT ?= swift

.PHONY: deps deps-browser build test lint check-plan bench demo format

deps:
	@bash scripts/install-deps.sh

deps-browser:
	@bash scripts/install-deps.sh --browser

build: deps
	$(SWIFT) build

## Runs the whole test suite (plan loader, runner, PostgreSQL, HTTP, simulator, end to end,
## the review page in headless Chromium), after the style check.
test: deps-browser lint
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

## The project's style (.swift-format: 120 columns, ordered imports, ...); `make format` fixes it.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

format:
	$(SWIFT) format -i -r Sources Tests Package.swift
