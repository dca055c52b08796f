# Plateau's entry points. `make demo` and `make test` work on a fresh Debian/Ubuntu machine
# with Swift 6: they install the C libraries Plateau links (OpenBLAS, oneDNN, zlib, Open MPI)
# when missing.

SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libdnnl-dev zlib1g-dev libopenmpi-dev openmpi-bin pkg-config

.PHONY: demo test deps release bench docs clean

demo: deps
	$(SWIFT) run -c release plateau demo

test: deps
	$(SWIFT) test

release: deps
	$(SWIFT) build -c release

bench: deps
	$(SWIFT) run -c release plateau bench

# DocC documentation of the library modules (catalogs in Sources/<Module>/<Module>.docc), in
# one combined archive so that pages link across modules:
# .build/plugins/Swift-DocC/outputs/Plateau.doccarchive (serve it: python3 -m http.server -d
# that folder, then open /documentation/plateau).
DOC_TARGETS := Plateau PlateauTensor PlateauNN PlateauOptim PlateauData PlateauAnalysis PlateauTraining PlateauComparison PlateauReport
docs: deps
	$(SWIFT) package --disable-sandbox generate-documentation --enable-experimental-combined-documentation \
		$(addprefix --target ,$(DOC_TARGETS))

# Installs what is missing when running as root; otherwise prints the exact command.
deps:
	@# oneDNN ships no pkg-config file on Debian: its header stands for the package.
	@# Open MPI: its C API (pkg-config ompi-c) to build, mpirun to run data-parallel jobs.
	@if pkg-config --exists openblas zlib ompi-c 2>/dev/null && [ -f /usr/include/oneapi/dnnl/dnnl.h ] && command -v mpirun >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
		echo "Installing $(APT_PACKAGES) (needed to build Plateau)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	else \
		echo "Plateau needs OpenBLAS, oneDNN, zlib and Open MPI. Install them with:"; \
		echo "    sudo apt-get install -y $(APT_PACKAGES)"; \
		exit 1; \
	fi

clean:
	rm -rf .build
