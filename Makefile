# mxcall: see README.md. `make run` starts the demo, `make test` runs every test.
.PHONY: run test deps homeserver package

run: deps homeserver
	./scripts/demo.sh

test: deps homeserver
	./scripts/test.sh

deps:
	./scripts/install-deps.sh

homeserver:
	./scripts/build-homeserver.sh

package: deps
	./scripts/package.sh
