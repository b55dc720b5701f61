# Shortcuts for the scripts the README names (make itself is optional).
.PHONY: run test package

run:
	./scripts/demo.sh

test:
	./scripts/test.sh

package:
	./scripts/install-deps.sh
	./scripts/package.sh
