# mini-docker: a container built one kernel feature at a time.
#
# make demo    install what is missing, build, and walk through the stages
# make test    install what is missing, build, and run the whole suite
# make help    everything else

# The stages: every directory stages/NN-name/ that holds a container.c (the
# one list; lib/kit.bash and slides/lib.mjs read the same directories).
STAGES  := $(patsubst stages/%/container.c,%,$(sort $(wildcard stages/[0-9][0-9]-*/container.c)))
BUILD   := build
BINS    := $(addprefix $(BUILD)/,$(STAGES))
ROOTFS  := $(BUILD)/rootfs
# The attacks of make escapes (escapes/*.c), static; each also goes into the
# rootfs, in /usr/local/bin, where the stages with a rootfs can run it.
ESCAPES := $(patsubst escapes/%.c,%,$(sort $(wildcard escapes/*.c)))

CC      ?= cc
CFLAGS  ?= -std=c11 -O2 -Wall -Wextra -Werror
# Static, so the same binaries run inside the busybox rootfs and a bare VM.
LDFLAGS ?= -static

# What `make demo` and `make test` need, as Debian and Ubuntu name it.
PACKAGES := gcc libc6-dev make binutils bats bats-support bats-assert \
            busybox-static procps util-linux iproute2 iputils-ping

# This machine's architecture, as Debian names it (amd64, arm64).
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)

# What `make test-vm` needs besides: qemu to boot the kernel, cpio for its
# initramfs. (The kernel and bash-static are fetched by tests/vm/run-vm.sh.)
# The VMs are of this machine's architecture: qemu-system-aarch64, from
# qemu-system-arm, on arm64.
VM_PACKAGES := $(if $(filter arm64 aarch64,$(HOST_ARCH)),qemu-system-arm,qemu-system-x86) cpio

# What `make test-arm64` needs besides: a cross compiler (static libc
# included), qemu for arm64, qemu-user to run the arm64 busybox while its
# rootfs is built, and Debian's archive key for the private apt configuration
# that fetches arm64 packages (rootfs-builder/deb-cache.sh).
ARM64_PACKAGES := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm qemu-user-static \
                  cpio file debian-archive-keyring
ARM64    := $(BUILD)/arm64
ARM64_CC := aarch64-linux-gnu-gcc

# What `make test-classroom` needs besides: mmdebstrap for its Debian 12
# system, e2fsprogs (mkfs.ext4 -d) for its disk, dosfstools and mtools for
# cloud-init's seed, qemu to boot it.
CLASSROOM_PACKAGES := mmdebstrap e2fsprogs dosfstools mtools qemu-system-x86

# What `make lint` (and so `make test`) needs besides.
LINT_PACKAGES := cppcheck clang-tidy shellcheck shfmt

# What `make slides` and `make slides-check` need besides: Debian's Chromium,
# for the PDFs and the check, and a font for the Chinese deck; on Ubuntu,
# whose Chromium is a snap, the font alone (lib/distro.bash says why). Node.js
# 20 and npm must be there already (Debian 12's own Node.js is too old).
SLIDES_PACKAGES := $(shell lib/distro.bash slides-packages)

# What `make bench` (and its smoke run in `make test`) needs besides: the
# runtimes it is compared with, hyperfine to time them, gnuplot to draw the
# chart, jq for the results. crun is tried, and timed where it runs.
BENCH_PACKAGES := hyperfine bubblewrap runc crun gnuplot-nox jq
# Of those, the runtimes are installed where Debian builds them for this
# machine's architecture (all three for amd64 and arm64), and bench/run
# leaves out of its table one it does not.
OPTIONAL_PACKAGES := bubblewrap runc crun

# STAGE=04 (or 4, or 04-chroot) names one stage for shell, diff and test.
stage_name = $(filter 0$(patsubst 0%,%,$(firstword $(subst -, ,$(STAGE))))-%,$(STAGES))
STAGE_NAME  = $(or $(stage_name),$(error STAGE=$(STAGE) is not one of: $(STAGES)))

# Where `make lab` puts the students' copies of the starters.
WORK ?= work

.PHONY: all rootfs deps test-deps vm-deps lint-deps bench-deps bench demo forkbomb oom escapes doctor test test-full test-vm test-arm64 arm64-deps test-classroom classroom-deps lint sanitize shell diff lab grade slides-deps slides slides-check clean help
.DELETE_ON_ERROR:

all: $(BINS) $(addprefix $(BUILD)/escapes/,$(ESCAPES))

$(BUILD)/%: stages/%/container.c | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD):
	mkdir -p $@

rootfs: $(ROOTFS) $(addprefix $(ROOTFS)/usr/local/bin/,$(ESCAPES))

$(BUILD)/escapes/%: escapes/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(ROOTFS)/usr/local/bin/%: $(BUILD)/escapes/% | $(ROOTFS)
	install -D -m 0755 $< $@

$(ROOTFS): rootfs-builder/build-rootfs.sh rootfs-builder/deb-cache.sh
	rootfs-builder/build-rootfs.sh $@

# Install only the packages that are missing; apt-get needs root. One of
# OPTIONAL_PACKAGES that apt has not for this architecture is left out.
deps:
	@missing=""; \
	for pkg in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' "$$pkg" 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq || exit 1; \
	  for pkg in $(OPTIONAL_PACKAGES); do \
	    case " $$missing " in *" $$pkg "*) \
	      apt-cache show --no-all-versions "$$pkg" >/dev/null 2>&1 || { \
	        echo "$$pkg: Debian builds none for $(HOST_ARCH); left out"; \
	        missing=$$(echo " $$missing " | sed "s/ $$pkg / /"); } ;; \
	    esac; \
	  done; \
	  [ -z "$$(echo $$missing)" ] || { echo "Installing:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    -o DPkg::Lock::Timeout=120 $$missing; }; \
	fi

demo: deps all rootfs
	stages/doctor.sh
	stages/demo.sh

# The finale: a fork bomb held at pids.max, watched live from the host.
PIDS_MAX ?= 20
DURATION ?= 5
forkbomb: deps all rootfs
	PIDS_MAX='$(PIDS_MAX)' DURATION='$(DURATION)' stages/forkbomb.sh

# Its twin: a memory hog climbing to the memory limit, watched live from the
# host, ended by the OOM killer at the limit (DURATION: about the seconds of
# the climb).
MEMORY ?= 64M
oom: deps all rootfs
	MEMORY='$(MEMORY)' DURATION='$(DURATION)' stages/oom.sh

# The escape matrix: each attack of escapes/expected run with no container and
# in each stage, "blocked" or "escaped", measured now, in a throwaway UTS and
# mount namespace; it fails, naming the cell, where one is not what
# escapes/expected says. A few seconds.
escapes: all rootfs
	escapes/run --check

# The preflight for a classroom machine: can the kit run here?
doctor:
	stages/doctor.sh

# Everything, as CI runs it (tests/all): lint, the slides in Chromium, the
# suite on this host (sanitizer phase included), a smoke run of the
# benchmark, and meanwhile, in two VMs (cgroup v2 only, cgroup v1 only),
# what depends on the cgroup layout; `make test-vm` runs all of it there.
# It ends with the time each part took.
test: test-deps all rootfs sanitize
	tests/all

# The same with the full matrix: every earlier stage's property tests
# against each stage (tests/run --full), here and in the VMs.
test-full: test-deps all rootfs sanitize
	tests/all --full

# Everything make test needs, in one apt-get run.
test-deps:
	@$(MAKE) --no-print-directory deps PACKAGES='$(PACKAGES) $(VM_PACKAGES) $(LINT_PACKAGES) $(SLIDES_PACKAGES) $(BENCH_PACKAGES)'

# The whole suite in two VMs: one with cgroup v2 only, one with v1 only.
test-vm: vm-deps all rootfs
	tests/vm/run-vm.sh

# The stage 05 part of the suite in an emulated arm64 VM (cgroup v2), against
# the kit cross-built into $(ARM64)/: 01's and 05's own tests (the plumbing,
# the fork bomb) and every earlier stage's properties against 05 (--full),
# the doctor, and their READMEs' try-its. See tests/README.md, "The VMs".
test-arm64: arm64-deps $(addprefix $(ARM64)/,$(STAGES) $(addprefix escapes/,$(ESCAPES)))
test-arm64: $(ARM64)/rootfs $(addprefix $(ARM64)/rootfs/usr/local/bin/,$(ESCAPES))
	@file $(ARM64)/$(lastword $(filter 05-%,$(STAGES)))
	VM_ARCH=arm64 VM_STAGES='01 05' VM_RUN=full VM_SKIP_PHASES=2,3 VM_TIMEOUT=$${VM_TIMEOUT:-1500} \
	  tests/vm/run-vm.sh unified

# The kit on a classroom machine as it is: Debian 12 booted with systemd
# (cgroup v2) under qemu, provisioned by cloud-init from the kit's own
# labs/classroom/user-data (offline: the packages in the image), and as the
# user cloud-init made, with sudo: make doctor, make demo, tests/run 05.
# Not in make test (minutes of emulation). See tests/README.md, "The VMs".
test-classroom: classroom-deps
	tests/vm/classroom.sh

$(ARM64)/%: stages/%/container.c | arm64-deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(ARM64)/escapes/%: escapes/%.c | arm64-deps
	@mkdir -p $(@D)
	$(ARM64_CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(ARM64)/rootfs/usr/local/bin/%: $(ARM64)/escapes/% | $(ARM64)/rootfs
	install -D -m 0755 $< $@

$(ARM64)/rootfs: rootfs-builder/build-rootfs.sh rootfs-builder/deb-cache.sh | arm64-deps
	DEB_ARCH=arm64 rootfs-builder/build-rootfs.sh $@

arm64-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(ARM64_PACKAGES)'

# After deps, not beside it: two apt-gets at once would fight over the lock.
vm-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(VM_PACKAGES)'

classroom-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(CLASSROOM_PACKAGES)'

lint-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(LINT_PACKAGES)'

bench-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(BENCH_PACKAGES)'

slides-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(SLIDES_PACKAGES)'
	@lib/distro.bash chromium >/dev/null || true
	@command -v node >/dev/null && command -v npm >/dev/null || \
	  { echo 'make slides: needs Node.js 20 or later, and npm'; exit 1; }

# The deck's npm packages, as slides/package-lock.json pins them.
slides/node_modules/.package-lock.json: slides/package-lock.json
	cd slides && npm ci --no-audit --no-fund
	@touch $@

# The workshop decks, English and Chinese, built from the stages' sources and
# READMEs: $(BUILD)/slides/{en,zh}/index.html, and PDFs with Chromium.
slides: slides-deps slides/node_modules/.package-lock.json
	node slides/build.mjs

# Both decks render, fit their slides, work offline, and show what the stages
# make now, in headless Chromium (screenshots in $(BUILD)/slides/shots/).
slides-check: slides-deps slides/node_modules/.package-lock.json
	node slides/build.mjs --no-pdf
	node slides/check.mjs

# cppcheck and clang-tidy on every C file, shellcheck and shfmt on every shell script,
# found by tests/lint wherever they are; no finding may remain.
lint: lint-deps
	tests/lint

# What a container costs: each stage's `run /bin/true` against util-linux
# unshare, bubblewrap and runc, and the teardown of 20, 200 and 1000
# processes, on this machine; a table, and $(BUILD)/bench/ (results.json,
# results.md, chart.png). About a minute, two on a busy machine. See
# bench/README.md.
bench: bench-deps all rootfs
	bench/run

# The stages again, with sanitizers, for the suite's phase 7 (tests/run with
# SANITIZE=1): build/ubsan/ with UBSan (undefined behaviour), static as
# above; build/asan/ with ASan (memory errors) and UBSan, dynamic because
# ASan cannot link statically, so they run on this host, not in the VMs. A
# finding ends the program (-fno-sanitize-recover), so its test fails. The
# rootfs links are where the stages look for their default rootfs.
SANITIZE_CFLAGS = $(CFLAGS) -g -fno-omit-frame-pointer -fno-sanitize-recover=all

sanitize: $(addprefix $(BUILD)/ubsan/,$(STAGES)) $(addprefix $(BUILD)/asan/,$(STAGES))
	@ln -sfn ../rootfs $(BUILD)/ubsan/rootfs
	@ln -sfn ../rootfs $(BUILD)/asan/rootfs

$(BUILD)/ubsan/%: stages/%/container.c
	@mkdir -p $(@D)
	$(CC) $(SANITIZE_CFLAGS) -fsanitize=undefined $(LDFLAGS) -o $@ $<

$(BUILD)/asan/%: stages/%/container.c
	@mkdir -p $(@D)
	$(CC) $(SANITIZE_CFLAGS) -fsanitize=address,undefined -o $@ $<

shell: all rootfs
	$(BUILD)/$(STAGE_NAME) run --hostname $(STAGE_NAME) sh -l

diff:
	@prev=; for s in $(STAGES); do [ "$$s" = $(STAGE_NAME) ] && break; prev=$$s; done; \
	if [ -z "$$prev" ]; then echo "$(STAGE_NAME) is the first stage: read stages/$(STAGE_NAME)/container.c"; \
	else diff -u "stages/$$prev/container.c" "stages/$(STAGE_NAME)/container.c" || [ $$? -eq 1 ]; fi

# A lab's starter: its stage with the lesson cut out, made afresh from the
# stage by the cuts in labs/NN-name/starter.spec, so it cannot drift.
$(BUILD)/labs/%/container.c: stages/%/container.c labs/%/starter.spec labs/make-starter.sh
	@mkdir -p $(@D)
	labs/make-starter.sh stages/$*/container.c labs/$*/starter.spec >$@

# make lab STAGE=03: the student's copy of the starter, made once and never
# overwritten (to start over, remove it first).
lab:
	@$(MAKE) --no-print-directory -s $(BUILD)/labs/$(STAGE_NAME)/container.c
	@if [ -e $(WORK)/$(STAGE_NAME)/container.c ]; then \
	  echo "$(WORK)/$(STAGE_NAME)/container.c is already there: left as it is (to start over, remove it first)"; \
	else \
	  mkdir -p $(WORK)/$(STAGE_NAME) && \
	  cp -n $(BUILD)/labs/$(STAGE_NAME)/container.c $(WORK)/$(STAGE_NAME)/container.c && \
	  echo "Your lab: $(WORK)/$(STAGE_NAME)/container.c; the steps: labs/$(STAGE_NAME)/README.md" && \
	  echo "Check your work with: sudo make grade STAGE=$(firstword $(subst -, ,$(STAGE_NAME)))"; \
	fi

# make grade STAGE=03 [SRC=file.c] [QUICK=1]: compile it as the stages are
# compiled, run the stage's tests on it, print a scorecard (QUICK=1: only the
# stage's own tests, not the earlier stages'). See labs/grade.sh --help.
grade:
	CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)' \
	  labs/grade.sh $(if $(QUICK),--quick )--stage $(STAGE_NAME) $(or $(SRC),$(WORK)/$(STAGE_NAME)/container.c)

# A runtime killed with SIGKILL cannot remove its cgroup; rmdir removes the
# empty ones it left (lib/kit.bash's stale_cgroups: a running container's
# cgroup is not empty, and stays).
clean:
	rm -rf $(BUILD)
	-@bash -c '. lib/kit.bash && stale_cgroups' | while read -r cgroup; do \
	  rmdir "$$cgroup" && echo "removed $$cgroup, left by a runtime killed with SIGKILL"; \
	done

help:
	@echo 'make demo           install what is missing, build, and show each stage'
	@echo 'make forkbomb       a fork bomb held at pids.max (PIDS_MAX=20 DURATION=5)'
	@echo 'make oom            a memory hog killed at the memory limit (MEMORY=64M DURATION=5)'
	@echo 'make escapes        the escape matrix: each attack in each stage, blocked or escaped'
	@echo 'make doctor         check that this machine can run the kit (one line a check)'
	@echo 'make test           install what is missing, build, and run the test suite'
	@echo '                    here and in two VMs (cgroup v2 only, cgroup v1 only)'
	@echo 'make test-full      the same, each stage against every earlier stage'"'"'s tests'
	@echo 'make test-vm        the whole suite in the two VMs only'
	@echo 'make test-arm64     the kit cross-built for arm64, its stage 05 part tested'
	@echo '                    in an emulated arm64 VM (cgroup v2; about 3 minutes)'
	@echo 'make test-classroom make doctor, make demo and tests/run 05 on a Debian 12 VM'
	@echo '                    booted with systemd, provisioned by labs/classroom/user-data'
	@echo 'make lint           cppcheck, clang-tidy, shellcheck and shfmt on every C file and script'
	@echo 'make bench          what a container costs here: each stage against unshare,'
	@echo '                    bubblewrap and runc; a table and a chart in $(BUILD)/bench/'
	@echo 'make sanitize       the stages with UBSan into $(BUILD)/ubsan/, with ASan into $(BUILD)/asan/'
	@echo 'make                build the stages into $(BUILD)/'
	@echo 'make rootfs         build the busybox root filesystem into $(ROOTFS)'
	@echo 'make shell STAGE=04 an interactive shell inside that stage'
	@echo 'make diff STAGE=04  the lesson: what that stage adds to the one before'
	@echo 'make lab STAGE=03   start lab 03: your copy of its starter, in $(WORK)/03-mountns-proc/'
	@echo 'make grade STAGE=03 a scorecard of your lab 03 (SRC=file.c: any file;'
	@echo '                    QUICK=1: only the checks of stage 03 itself)'
	@echo 'make slides         the workshop decks, English and Chinese, into $(BUILD)/slides/'
	@echo 'make slides-check   build both decks and check them in headless Chromium'
	@echo 'make clean          remove $(BUILD)/ and any cgroup a killed run left'
