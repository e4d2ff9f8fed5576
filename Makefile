# Makefile for memd.  The source is memd.nw; everything made lands in build/.
#
#   make            install what is missing, tangle, build the image, weave the book
#   make test       run every test (TAP lines, then "N passed, N failed");
#                   make test AREAS="frames service": build what those
#                   areas need, then run them alone
#   make run        boot the image under the kernel model: a demo session
#   make debug      the same under gdb (SCENARIO=tests/scenarios/X.scn)
#   make html       weave the HTML alone (seconds): build/memd.html
#   make image      the image alone: build/memd, or with MODE=no-ready or
#                   MODE=refuse:STATUS an image of that test mode
#   make toolchain  which toolchain builds the image here, and its packages
#   make check      structural checks of the web, then the static analysers
#   make bench      count instructions per allocation, free and request
#                   with callgrind; writes build/bench.txt
#   make review     the code alone, with the prose as comments (noweb's
#                   nountangle): one file per root in build/review/
#   make review-change BASE=REV [TO=REV]
#                   a change of the book, woven: build/review-change.html
#   make book-evidence  measure the evidence beside each chunk (tests per
#                   case, lines run) and weave it into the book
#   make clean      remove build/
#
# No target is named tangle, weave or tests: those are files here.

SHELL := /bin/sh
.DEFAULT_GOAL := all
BUILD := build
WEB := memd.nw

# The C compiler: gcc unless CC is given on the command line or in the
# environment (make's own default, cc, is not a choice anybody made).
CC_CHOSEN := $(if $(filter default,$(origin CC)),,yes)
ifeq ($(origin CC),default)
CC := gcc
endif
CC_NAME := $(notdir $(firstword $(CC)))
CC_IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -c clang)

# The image's toolchain (memd.nw, "Building the image").  The image is
# built for one target whatever the host: x86-64, no operating system, ELF.
#   clang: told the target (--target), and linked by ld.lld, which links
#          for any target; chosen by CC=clang (or any clang).
#   gcc:   has no --target, its target is its own: a gcc that targets
#          x86-64, the host's own on an x86-64 host and Debian's cross
#          compiler x86_64-linux-gnu-gcc elsewhere.  The default; on a host
#          that is not x86-64, with no cross gcc installed but clang and
#          ld.lld, clang.
# `make toolchain` says which, and what the image's packages are.
IMAGE_TARGET := x86_64-unknown-none-elf
HOST_ARCH ?= $(shell uname -m)
CROSS_GCC := x86_64-linux-gnu-gcc
IMAGE_LD ?= ld.lld
have = $(shell command -v $(1) 2>/dev/null)
CC_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(CC_IS_CLANG),0)
IMAGE_TOOLCHAIN := clang
else ifneq ($(filter x86_64-%,$(if $(CC_MACHINE),$(CC_MACHINE),$(HOST_ARCH)-)),)
IMAGE_TOOLCHAIN := gcc
else ifneq ($(call have,$(CROSS_GCC)),)
IMAGE_TOOLCHAIN := cross-gcc
else ifeq ($(CC_CHOSEN)$(if $(call have,clang),,no)$(if $(call have,$(IMAGE_LD)),,no),)
IMAGE_TOOLCHAIN := clang
else
IMAGE_TOOLCHAIN := cross-gcc
endif
ifeq ($(IMAGE_TOOLCHAIN),clang)
IMAGE_CC := $(if $(filter 0,$(CC_IS_CLANG)),clang,$(CC)) --target=$(IMAGE_TARGET)
IMAGE_TOOL_PACKAGES := clang lld
else ifeq ($(IMAGE_TOOLCHAIN),gcc)
IMAGE_CC := $(CC)
IMAGE_TOOL_PACKAGES := gcc binutils
else
IMAGE_CC := $(CROSS_GCC)
IMAGE_TOOL_PACKAGES := gcc-x86-64-linux-gnu binutils-x86-64-linux-gnu
endif
IMAGE_CC_NAME := $(notdir $(firstword $(IMAGE_CC)))
IMAGE_CC_IS_CLANG := $(if $(filter clang,$(IMAGE_TOOLCHAIN)),1,0)

# ---------------------------------------------------------------------------
# Dependencies: Debian packages, by goal, each group checked (and, when make
# runs as root, installed by apt-get) only by the targets that need it;
# otherwise make prints the command to run and stops.
#   image: what tangles the book and compiles the image;
#   book:  what weaves it (graphviz draws the diagrams, in the fonts of
#          fonts-dejavu-core);
#   test:  what checks it (chromium, headless, and poppler-utils let
#          tests/book.sh look at the book as a reader does).
IMAGE_PACKAGES := make noweb $(IMAGE_TOOL_PACKAGES)
BOOK_PACKAGES := pandoc python3 texlive-latex-recommended texlive-latex-extra \
	texlive-fonts-recommended lmodern graphviz fonts-dejavu-core
TEST_PACKAGES := gcc binutils clang lld gdb poppler-utils cppcheck clang-tidy \
	valgrind libclang-rt-14-dev chromium
DEB_PACKAGES := $(IMAGE_PACKAGES) $(BOOK_PACKAGES) $(TEST_PACKAGES)

# For tests/deps-size.sh, which prices each group for the README.
print-packages-image: ; @echo $(IMAGE_PACKAGES)
print-packages-book: ; @echo $(BOOK_PACKAGES)
print-packages-test: ; @echo $(TEST_PACKAGES)
.PHONY: print-packages-image print-packages-book print-packages-test

IMAGE_DEPS := $(BUILD)/.deps-image-$(IMAGE_TOOLCHAIN)
BOOK_DEPS := $(BUILD)/.deps-book
# Every group: what make test, make check, make fuzz and make bench need.
DEPS_STAMP := $(BUILD)/.deps-ok

# deps-rule STAMP PREREQUISITES GROUP PACKAGES: the rule that installs (as
# root) or names what is missing of a group.
define deps-rule
$(1): $(2)
	@mkdir -p $(BUILD)
	@missing=""; \
	for p in $(4); do \
	    dpkg-query -W -f='$$$${Status}\n' "$$$$p" 2>/dev/null | \
	        grep -q '^install ok installed$$$$' || missing="$$$$missing $$$$p"; \
	done; \
	if [ -n "$$$$missing" ]; then \
	    if [ "$$$$(id -u)" = 0 ]; then \
	        echo "make: installing Debian packages ($(3)):$$$$missing"; \
	        apt-get update -q && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	            --no-install-recommends $$$$missing || exit 1; \
	    else \
	        echo "make: these Debian packages ($(3)) are missing:$$$$missing" >&2; \
	        echo "make: install them as root with:" >&2; \
	        echo "    apt-get update && apt-get install -y --no-install-recommends$$$$missing" >&2; \
	        exit 1; \
	    fi; \
	fi
	@touch $$@
endef

$(eval $(call deps-rule,$(IMAGE_DEPS),Makefile,image,$(IMAGE_PACKAGES)))
$(eval $(call deps-rule,$(BOOK_DEPS),Makefile $(IMAGE_DEPS),book,$(BOOK_PACKAGES)))
$(eval $(call deps-rule,$(DEPS_STAMP),Makefile $(BOOK_DEPS),test,$(TEST_PACKAGES)))

# ---------------------------------------------------------------------------
# Tangling.  The stamp records that tangle ran; tangle itself rewrites only
# files whose content changed, so their mtimes drive the rebuilds below.
# The roots are those the book's map of roots lists (tangle checks that
# noweb finds exactly these); test roots are named test-NAME.c.
TANGLE_STAMP := $(BUILD)/.tangled
ROOTS := $(shell sed -n 's/^| `\([^`]*\)` | `build\/[^`]*` |.*/\1/p' $(WEB))
TANGLED := $(addprefix $(BUILD)/,$(ROOTS))
TEST_NAMES := $(patsubst test-%.c,%,$(filter test-%.c,$(ROOTS)))

$(TANGLE_STAMP): $(WEB) tangle $(IMAGE_DEPS)
	./tangle $(WEB) $(BUILD)
	@touch $@

$(TANGLED): $(TANGLE_STAMP) ;

# ---------------------------------------------------------------------------
# Compiler flags.  Warnings are errors, with gcc and with clang.
WARN_COMMON := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wconversion \
	-Wsign-conversion -Wcast-qual -Wcast-align -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wundef -Wvla \
	-Wwrite-strings -Wpointer-arith -Wformat=2 -Wnull-dereference \
	-Wimplicit-fallthrough -Wdouble-promotion -Wredundant-decls
WARN := $(WARN_COMMON)
ifeq ($(CC_IS_CLANG),0)
WARN += -Wlogical-op -Wduplicated-cond -Wduplicated-branches -Wjump-misses-init
endif

# The image: see memd.nw, "Building the image", for why each flag is here.
# IMAGE_BASE_CFLAGS are the flags of the code; the benchmark compiles the
# core with them too, by the host's compiler (CC).
IMAGE := $(BUILD)/memd
IMAGE_BASE_CFLAGS := -std=c11 -O2 -g -gdwarf-4 \
	-ffreestanding -fno-builtin -fno-stack-protector -fno-pie \
	-mcmodel=small -mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-80387 \
	-fno-asynchronous-unwind-tables -fno-common -fcf-protection=none \
	-I$(BUILD)
GCC_ONLY_CFLAGS := -fno-tree-loop-distribute-patterns
GCC_ONLY_WARN := -Wlogical-op -Wduplicated-cond -Wduplicated-branches -Wjump-misses-init
# Reproducible bytes: no path of the machine in the image.  The directory
# make runs in becomes ".", the build directory "build" wherever it is
# (gcc takes the last map that matches, clang the longest), and the
# compiler's own headers (stdint.h, stddef.h) "compiler/include".
IMAGE_CC_INCLUDE := $(shell $(IMAGE_CC) -print-file-name=include 2>/dev/null)
ifeq ($(IMAGE_CC_IS_CLANG),1)
IMAGE_CC_INCLUDE := $(shell $(IMAGE_CC) -print-resource-dir 2>/dev/null)/include
endif
IMAGE_REPRO := -ffile-prefix-map=$(CURDIR)=. \
	$(if $(filter /%,$(IMAGE_CC_INCLUDE)),-ffile-prefix-map=$(IMAGE_CC_INCLUDE)=compiler/include) \
	-ffile-prefix-map=$(abspath $(BUILD))=build
# IMAGE_EXTRA_CFLAGS: flags that change no code, for a check that builds
# an image of its own (tests/image.sh: -fstack-usage, in a scratch BUILD).
IMAGE_EXTRA_CFLAGS ?=
IMAGE_CFLAGS := $(IMAGE_BASE_CFLAGS) $(WARN_COMMON) $(IMAGE_REPRO) \
	$(if $(filter 0,$(IMAGE_CC_IS_CLANG)),$(GCC_ONLY_WARN) $(GCC_ONLY_CFLAGS)) \
	$(IMAGE_EXTRA_CFLAGS)
# Linking: gcc through its own driver, clang's objects by ld.lld directly
# (clang's driver would hand a target with no operating system to the
# host's gcc to link).
ifeq ($(IMAGE_CC_IS_CLANG),1)
image-link = $(IMAGE_LD) -nostdlib -static -T linker.ld --build-id=none \
	-z max-page-size=4096 --fatal-warnings -o $(1) $(2)
IMAGE_LD_ID := $(IMAGE_LD) $(shell $(IMAGE_LD) --version 2>/dev/null | head -1)
else
image-link = $(IMAGE_CC) $(IMAGE_CFLAGS) -nostdlib -static -Wl,-T,linker.ld \
	-Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--fatal-warnings -o $(1) $(2)
IMAGE_LD_ID :=
endif

# EriX's build modes (memd.nw, "Build modes"): MODE=production (the
# default, and the only image named build/memd), MODE=no-ready, or
# MODE=refuse:STATUS with STATUS a name of enum memd_startup_status other
# than MEMD_STARTUP_OK.  A test mode's image is build/memd-MODE (the colon
# a dash): `make image MODE=refuse:MEMD_ST_ENV_ROLE` makes
# build/memd-refuse-MEMD_ST_ENV_ROLE.
MODE ?= production
MODE_STATUSES = $(shell sed -n 's/^    \(MEMD_ST_[A-Z0-9_]*\) = [0-9]*,\{0,1\}$$/\1/p' $(WEB))
ifeq ($(MODE),production)
MODE_DEFINES :=
else ifeq ($(MODE),no-ready)
MODE_DEFINES := -DMEMD_MODE_NO_READY=1
else ifneq ($(filter refuse:%,$(MODE)),)
MODE_STATUS := $(patsubst refuse:%,%,$(MODE))
ifeq ($(filter $(MODE_STATUS),$(MODE_STATUSES)),)
$(error MODE=$(MODE): '$(MODE_STATUS)' is not a refusal of enum memd_startup_status (memd.nw, "Startup status codes"); one of: $(MODE_STATUSES))
endif
MODE_DEFINES := -DMEMD_MODE_REFUSE=$(MODE_STATUS)
else
$(error MODE=$(MODE): no such build mode; the modes: production, no-ready, refuse:STATUS (STATUS a MEMD_ST_ name))
endif
MODE_IMAGE := $(if $(MODE_DEFINES),$(BUILD)/memd-$(subst :,-,$(MODE)),$(IMAGE))

# Host builds of the core and its tests: the core with the host scaffolding
# instead of the platform, under AddressSanitizer and UndefinedBehavior-
# Sanitizer, with the checking build's invariants on (MEMD_CHECKING).
HOST_OBJDIR := $(BUILD)/host-$(CC_NAME)
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
HOST_CFLAGS := -std=c11 -O1 -g $(WARN) -I$(BUILD) -Itests -DMEMD_CHECKING=1 $(SANITIZE)

# ---------------------------------------------------------------------------
.PHONY: all test check clean fuzz coverage bench run debug review html image toolchain FORCE \
	book-evidence review-change

all: $(IMAGE) $(MODE_IMAGE) $(BUILD)/memd.html $(BUILD)/memd.pdf

HEADERS := $(BUILD)/memd-abi.h $(BUILD)/memd-core.h

# The compiler is part of what decides a rebuild: its identity (the command,
# the first line of its --version, and the linker's for clang) and the
# mode's definitions are kept in a file that is rewritten only when they
# change, and the image and its objects depend on it, so that
# `make CC=clang build/memd` always leaves a clang-built image and switching
# back rebuilds it with gcc, whatever the files' times.
IMAGE_CC_ID := $(IMAGE_CC) $(shell $(IMAGE_CC) --version 2>/dev/null | head -1 | tr -d "'") $(IMAGE_LD_ID)
IMAGE_CC_VERSION := $(shell $(IMAGE_CC) -dumpfullversion 2>/dev/null || $(IMAGE_CC) -dumpversion 2>/dev/null)
FORCE:

# image-rule IMAGE OBJDIR DEFINES: the image IMAGE, its objects in OBJDIR,
# compiled with DEFINES.  When the image is linked, make says what it is.
define image-rule
$(2)/.cc $(dir $(1)).cc-$(notdir $(1)): FORCE
	@mkdir -p $$(@D)
	@echo '$$(IMAGE_CC_ID) $(3)' | cmp -s - $$@ || echo '$$(IMAGE_CC_ID) $(3)' > $$@

$(2)/%.o: $$(BUILD)/%.c $$(HEADERS) $(2)/.cc
	@mkdir -p $$(@D)
	$$(IMAGE_CC) $$(IMAGE_CFLAGS) $(3) -c -o $$@ $$<

$(1): $(2)/memd-core.o $(2)/memd-image.o linker.ld $(dir $(1)).cc-$(notdir $(1))
	@mkdir -p $$(@D)
	$$(call image-link,$$@,$(2)/memd-core.o $(2)/memd-image.o)
	@echo "image: $$@ for $$(IMAGE_TARGET), by $$(IMAGE_CC_NAME) $$(IMAGE_CC_VERSION)$(if $(3), in mode $$(MODE))"

.SECONDARY: $(2)/memd-core.o $(2)/memd-image.o
endef

IMAGE_OBJDIR := $(BUILD)/image-$(IMAGE_CC_NAME)
$(eval $(call image-rule,$(IMAGE),$(IMAGE_OBJDIR),))
ifneq ($(MODE_DEFINES),)
$(eval $(call image-rule,$(MODE_IMAGE),$(IMAGE_OBJDIR)-$(subst :,-,$(MODE)),$(MODE_DEFINES)))
endif

# make image: the image of MODE (build/memd unless MODE says otherwise).
image: $(MODE_IMAGE)

# Which toolchain builds the image here, and what it needs.
toolchain:
	@echo "image toolchain: $(IMAGE_TOOLCHAIN) ($(IMAGE_CC)$(if $(filter 1,$(IMAGE_CC_IS_CLANG)), and $(IMAGE_LD))) for $(IMAGE_TARGET), on a $(HOST_ARCH) host"
	@echo "image packages: $(IMAGE_PACKAGES)"

# The book.  Its evidence (below, at book-evidence) is measured first, and
# woven in, when the goal is book-evidence, or test with the book area;
# otherwise whatever evidence is there already is handed to weave, which
# leaves it out if it was measured on another text of memd.nw: a plain
# make never waits for a measurement.  Proofs, once they exist, likewise
# from build/prove.json.
EVIDENCE := $(BUILD)/evidence.json
PROOFS := $(BUILD)/prove.json
EVIDENCE_WANTED := $(if $(filter book-evidence,$(MAKECMDGOALS)),yes,$(if \
	$(filter test,$(MAKECMDGOALS)),$(if $(strip $(AREAS)),$(filter book,$(AREAS)),yes)))
BOOK_EVIDENCE := $(if $(EVIDENCE_WANTED),$(EVIDENCE)) $(wildcard $(PROOFS))
WEAVE_EVIDENCE = $(if $(EVIDENCE_WANTED)$(wildcard $(EVIDENCE)),--evidence $(EVIDENCE)) \
	$(if $(wildcard $(PROOFS)),--proofs $(PROOFS))

$(BUILD)/memd.html $(BUILD)/memd.pdf: $(BUILD)/.woven ;
$(BUILD)/.woven: $(WEB) weave $(BOOK_DEPS) $(BOOK_EVIDENCE)
	./weave $(strip $(WEAVE_EVIDENCE)) $(WEB) $(BUILD)
	@touch $@

# The HTML alone, in a few seconds, for the edit loop (the PDF waits for
# the next make).
html: $(BOOK_DEPS)
	./weave --html-only $(strip $(WEAVE_EVIDENCE)) $(WEB) $(BUILD)

# The benchmark (see memd.nw, "Measuring the cost"): the core compiled
# exactly as for the image (IMAGE_CFLAGS: -O2, freestanding, no SSE, no
# sanitizers, no checking build), linked with the kernel model into a host
# program that callgrind runs.  The image's flags ask for code that is not
# position-independent, so the program is linked with -no-pie.  The model's
# instructions are not counted; it is built at -O1, as for the tests (at
# -O2, gcc's -Wnull-dereference misreads its lookups).  `make test` builds
# the program and runs it once without callgrind.
# The one kernel model (tests/kernel.c, with the ABI's names): the host
# builds link it under memd-host.c, and the kernel model of the image,
# tests/kmodel.c, is built around it.
MODEL_C := tests/kernel.c tests/kmodel-names.c
MODEL_H := tests/kernel.h tests/kmodel.h
MODEL_OBJS := kernel.o kmodel-names.o

BENCH_OBJDIR := $(BUILD)/bench-$(CC_NAME)
BENCH_CFLAGS := -std=c11 -O2 -g -gdwarf-4 $(WARN) -I$(BUILD) -Itests
BENCH_PROG := $(BENCH_OBJDIR)/bench-frames

$(BENCH_OBJDIR)/memd-core.o: $(BUILD)/memd-core.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(IMAGE_BASE_CFLAGS) $(WARN) $(if $(filter 0,$(CC_IS_CLANG)),$(GCC_ONLY_CFLAGS)) -c -o $@ $<

BENCH_MODEL := $(BENCH_OBJDIR)/memd-host.o $(addprefix $(BENCH_OBJDIR)/,$(MODEL_OBJS))

$(BENCH_OBJDIR)/memd-host.o: $(BUILD)/memd-host.c $(HEADERS) $(BUILD)/memd-host.h $(MODEL_H)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -O1 -c -o $@ $<

$(addprefix $(BENCH_OBJDIR)/,$(MODEL_OBJS)): $(BENCH_OBJDIR)/%.o: tests/%.c $(MODEL_H) $(BUILD)/memd-abi.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -O1 -c -o $@ $<

$(BENCH_PROG): $(BUILD)/bench-frames.c $(BENCH_OBJDIR)/memd-core.o \
		$(BENCH_MODEL) $(HEADERS) $(BUILD)/memd-host.h
	$(CC) $(BENCH_CFLAGS) -no-pie -o $@ $< $(BENCH_OBJDIR)/memd-core.o \
		$(BENCH_MODEL)

# Tests.
HOST_OBJS := $(HOST_OBJDIR)/memd-core.o $(HOST_OBJDIR)/memd-host.o \
	$(addprefix $(HOST_OBJDIR)/,$(MODEL_OBJS))
TEST_PROGS := $(addprefix $(HOST_OBJDIR)/test-,$(TEST_NAMES))

$(HOST_OBJDIR)/%.o: $(BUILD)/%.c $(HEADERS) $(BUILD)/memd-host.h $(MODEL_H)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c -o $@ $<

$(addprefix $(HOST_OBJDIR)/,$(MODEL_OBJS)): $(HOST_OBJDIR)/%.o: tests/%.c $(MODEL_H) $(BUILD)/memd-abi.h
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c -o $@ $<

$(HOST_OBJDIR)/test-%: $(BUILD)/test-%.c $(HOST_OBJS) $(HEADERS) $(BUILD)/memd-host.h
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -o $@ $< $(HOST_OBJS)

# The same tests without sanitizers, for valgrind's memcheck (the two do
# not mix): `make test` runs each once under valgrind.
PLAIN_OBJDIR := $(BUILD)/plain-$(CC_NAME)
PLAIN_CFLAGS := -std=c11 -O1 -g $(WARN) -I$(BUILD) -Itests -DMEMD_CHECKING=1
PLAIN_OBJS := $(PLAIN_OBJDIR)/memd-core.o $(PLAIN_OBJDIR)/memd-host.o \
	$(addprefix $(PLAIN_OBJDIR)/,$(MODEL_OBJS))
PLAIN_PROGS := $(addprefix $(PLAIN_OBJDIR)/test-,$(TEST_NAMES))

$(PLAIN_OBJDIR)/%.o: $(BUILD)/%.c $(HEADERS) $(BUILD)/memd-host.h $(MODEL_H)
	@mkdir -p $(@D)
	$(CC) $(PLAIN_CFLAGS) -c -o $@ $<

$(addprefix $(PLAIN_OBJDIR)/,$(MODEL_OBJS)): $(PLAIN_OBJDIR)/%.o: tests/%.c $(MODEL_H) $(BUILD)/memd-abi.h
	@mkdir -p $(@D)
	$(CC) $(PLAIN_CFLAGS) -c -o $@ $<

$(PLAIN_OBJDIR)/test-%: $(BUILD)/test-%.c $(PLAIN_OBJS) $(HEADERS) $(BUILD)/memd-host.h
	$(CC) $(PLAIN_CFLAGS) -o $@ $< $(PLAIN_OBJS)

# Fuzzing: libFuzzer targets in tests/fuzz/, built with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer, with the checking build.
# `make fuzz` runs each for FUZZ_SECONDS; `make test` runs a short smoke.
FUZZ_SECONDS ?= 180
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/*.c))
FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
FUZZ_CFLAGS := -std=c11 -O1 -g $(WARN_COMMON) -I$(BUILD) -Itests -DMEMD_CHECKING=1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_DIR)/%: tests/fuzz/%.c $(BUILD)/memd-core.c $(BUILD)/memd-host.c $(MODEL_C) \
		$(HEADERS) $(BUILD)/memd-host.h $(MODEL_H) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(BUILD)/memd-core.c $(BUILD)/memd-host.c $(MODEL_C)

fuzz: $(FUZZ_BINS) $(TEST_PROGS) | $(DEPS_STAMP)
	@HOST_BIN=$(HOST_OBJDIR) tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Coverage: the host tests built with gcov instrumentation (no sanitizers),
# reported in memd.nw's own line numbers.
COV_OBJDIR := $(BUILD)/cov
COV_CFLAGS := -std=c11 -O0 -g $(WARN) -I$(BUILD) -Itests -DMEMD_CHECKING=1 --coverage
COV_OBJS := $(COV_OBJDIR)/memd-core.o $(COV_OBJDIR)/memd-host.o \
	$(addprefix $(COV_OBJDIR)/,$(MODEL_OBJS))

$(COV_OBJDIR)/%.o: $(BUILD)/%.c $(HEADERS) $(BUILD)/memd-host.h $(MODEL_H)
	@mkdir -p $(@D)
	$(CC) $(COV_CFLAGS) -c -o $@ $<

$(addprefix $(COV_OBJDIR)/,$(MODEL_OBJS)): $(COV_OBJDIR)/%.o: tests/%.c $(MODEL_H) $(BUILD)/memd-abi.h
	@mkdir -p $(@D)
	$(CC) $(COV_CFLAGS) -c -o $@ $<

$(COV_OBJDIR)/test-%: $(BUILD)/test-%.c $(COV_OBJS) $(HEADERS) $(BUILD)/memd-host.h
	$(CC) $(COV_CFLAGS) -o $@ $< $(COV_OBJS)

coverage: $(addprefix $(COV_OBJDIR)/test-,$(TEST_NAMES))
	@tests/coverage $(COV_OBJDIR) $(TEST_NAMES)

# The evidence beside each chunk of the book (memd.nw, "How the book is
# made"): the host tests again, from the objects of make coverage, each
# program linked with tests/covcase.c, which writes gcov's counters out
# after every case; and the image, every scenario played under gdb with a
# breakpoint on each line of the platform's code.  tests/evidence.py runs
# both and writes build/evidence.json; weave --evidence sets it beside the
# chunks.  make book-evidence measures and weaves; make test does so when
# it runs the book area.  A plain make weaves in the evidence only if it
# was measured on this very memd.nw (weave checks), so the edit loop never
# waits for it.
CASE_PROGS := $(addprefix $(COV_OBJDIR)/cases-test-,$(TEST_NAMES))

$(COV_OBJDIR)/covcase.o: tests/covcase.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O1 -g $(WARN) -c -o $@ $<

$(COV_OBJDIR)/cases-test-%: $(BUILD)/test-%.c $(COV_OBJS) $(COV_OBJDIR)/covcase.o \
		$(HEADERS) $(BUILD)/memd-host.h
	$(CC) $(COV_CFLAGS) -Wl,--wrap=printf -o $@ $< $(COV_OBJS) $(COV_OBJDIR)/covcase.o

$(EVIDENCE): $(WEB) $(CASE_PROGS) $(addprefix $(COV_OBJDIR)/test-,$(TEST_NAMES)) $(IMAGE) \
		$(KMODEL) tests/evidence.py weave $(wildcard tests/scenarios/*) | $(DEPS_STAMP)
	python3 tests/evidence.py --web $(WEB) --out $@ --cases-dir $(BUILD)/evidence-cases \
	    --gcno-dir $(COV_OBJDIR) --programs $(CASE_PROGS) \
	    --image $(IMAGE) --kmodel $(KMODEL) --scenarios tests/scenarios

book-evidence: $(BUILD)/.woven

# A change of the book, woven for review (memd.nw, "How the book is made"):
# make review-change BASE=REV [TO=REV] writes build/review-change.html, the
# change from revision BASE to revision TO, or to the working tree.
BASE ?=
TO ?=
review-change: $(BOOK_DEPS)
	@test -n "$(BASE)" || { echo "make review-change: name the revision to compare with, BASE=REV (and TO=REV, else the working tree)" >&2; exit 2; }
	python3 tests/review-change.py --base $(BASE) $(if $(TO),--to $(TO)) \
	    --out $(BUILD)/review-change.html --book $(BUILD)/memd.html

# The kernel model (tests/kmodel.c): a host program that boots the image
# under ptrace and plays the EriX kernel, rootd and clients from the
# scenarios in tests/scenarios/.  It includes the ABI header tangled from
# memd.nw, so the contract has one source.
KMODEL := $(BUILD)/kmodel
KMODEL_CFLAGS := -std=c11 -O1 -g $(WARN) -I$(BUILD) $(SANITIZE)

KMODEL_SRCS := tests/kmodel.c tests/kmodel-reply.c tests/kmodel-scenario.c tests/kmodel-names.c \
	tests/kernel.c tests/kgdb.c

$(KMODEL): $(KMODEL_SRCS) tests/kmodel.h tests/kernel.h tests/kgdb.h $(BUILD)/memd-abi.h
	$(CC) $(KMODEL_CFLAGS) -o $@ $(KMODEL_SRCS)

# A deliberately careless image, built like the real one, whose mistakes
# the kernel model must catch (tests/selftest/): the tester, tested.
CARELESS := $(BUILD)/careless-memd
$(CARELESS): tests/careless-memd.c linker.ld $(BUILD)/memd-abi.h
	$(IMAGE_CC) $(IMAGE_CFLAGS) -c -o $@.o tests/careless-memd.c
	$(call image-link,$@,$@.o)

# (After the variables it names: make expands prerequisites as it reads.)
# `make test` runs every area; `make test AREAS="frames service"` builds
# what those areas need, and only that, then runs them: if the build fails,
# nothing runs, so no test ever reports on a stale program.
AREAS ?=
AREA_NEEDS_web := all
AREA_NEEDS_book := all
AREA_NEEDS_valgrind := $(PLAIN_PROGS)
AREA_NEEDS_fuzz := $(FUZZ_BINS) $(TEST_PROGS)
AREA_NEEDS_bench := $(BENCH_PROG)
AREA_NEEDS_image := $(IMAGE) $(TANGLE_STAMP)
AREA_NEEDS_e2e := $(IMAGE) $(KMODEL) $(CARELESS)
AREA_NEEDS_gdb := $(IMAGE) $(KMODEL) $(CARELESS)
AREA_NEEDS_lines := $(TANGLE_STAMP)
AREA_NEEDS_firsthour := all $(TEST_PROGS) $(PLAIN_PROGS) $(FUZZ_BINS) $(BENCH_PROG) $(KMODEL) $(CARELESS)
$(foreach t,$(TEST_NAMES),$(eval AREA_NEEDS_$(t) := $(HOST_OBJDIR)/test-$(t)))
TEST_NEEDS := $(if $(strip $(AREAS)),$(foreach a,$(AREAS),$(if $(filter undefined,$(origin AREA_NEEDS_$(a))),$(error make test: no area named '$(a)'; the areas: web book $(TEST_NAMES) valgrind fuzz bench image e2e gdb lines firsthour),$(AREA_NEEDS_$(a)))),all $(TEST_PROGS) $(PLAIN_PROGS) $(FUZZ_BINS) $(BENCH_PROG) $(KMODEL) $(CARELESS))

test: $(TEST_NEEDS) | $(DEPS_STAMP)
	@HOST_BIN=$(HOST_OBJDIR) PLAIN_BIN=$(PLAIN_OBJDIR) TEST_NAMES="$(TEST_NAMES)" \
	    FUZZ_TARGETS="$(FUZZ_TARGETS)" BENCH_PROG=$(BENCH_PROG) tests/run$(if $(strip $(AREAS)), $(AREAS))

# The first thing to try after make: memd boots under the kernel model,
# checks the authority it was handed, and serves a short session.
run: $(IMAGE) $(KMODEL)
	@$(KMODEL) $(IMAGE) tests/scenarios/demo.scn

# gdb on the image while it serves a scenario (memd.nw, "Debugging"): the
# kernel model holds memd for gdb (kmodel --gdb, tests/kgdb.c); its trace
# appears among gdb's output.  make debug SCENARIO=tests/scenarios/X.scn
SCENARIO ?= tests/scenarios/demo.scn
debug: $(IMAGE) $(KMODEL) | $(DEPS_STAMP)
	gdb -q -ex 'target remote | exec $(KMODEL) --gdb $(IMAGE) $(SCENARIO)' $(IMAGE)

check: $(TANGLE_STAMP) | $(DEPS_STAMP)
	@tests/check

bench: $(BENCH_PROG) $(BUILD)/bench-frames.sh | $(DEPS_STAMP)
	sh $(BUILD)/bench-frames.sh $(BENCH_PROG) $(BUILD)

# The review copy: for each root of the map, its code with the prose that
# explains it turned into comments, by noweb's nountangle (C comments for C
# files, # comments for the rest).  It compiles to the same object code as
# the tangled file (tests/book.sh checks), but carries no #line directives:
# build from build/, review from build/review/.
REVIEW_DIR := $(BUILD)/review

review: $(DEPS_STAMP) $(WEB)
	@mkdir -p $(REVIEW_DIR)
	@for root in $(ROOTS); do \
	    case $$root in \
	        *.c|*.h) style=-c; open="/*"; mid="  "; close=" */" ;; \
	        *) style=-awk; open="#"; mid="#"; close="" ;; \
	    esac; \
	    { printf '%s %s\n%s %s%s\n' \
	          "$$open" "$$root for review: the code of $(WEB), its prose as comments." \
	          "$$mid" "Made by make review (noweb's nountangle); edit $(WEB), not this." \
	          "$$close"; \
	      nountangle $$style -w76 -R"$$root" $(WEB); } \
	        > $(REVIEW_DIR)/.$$root.new || exit 1; \
	    mv $(REVIEW_DIR)/.$$root.new $(REVIEW_DIR)/$$root; \
	done
	@echo "review: wrote $(words $(ROOTS)) files in $(REVIEW_DIR)/"

clean:
	rm -rf $(BUILD)

# Objects that pattern rules chain through are kept, not deleted.
.SECONDARY: $(HOST_OBJS) $(COV_OBJS) $(PLAIN_OBJS)
