# mini-docker: a container built one kernel feature at a time.
#
# make demo    install what is missing, build, and walk through the stages
# make test    install what is missing, build, and run the whole suite
# make help    everything else

STAGES  := 01-uts 02-pid 03-mountns-proc 04-chroot 05-cgroup-pids
BUILD   := build
BINS    := $(addprefix $(BUILD)/,$(STAGES))
ROOTFS  := $(BUILD)/rootfs

CC      ?= cc
CFLAGS  ?= -std=c11 -O2 -Wall -Wextra -Werror
# Static, so the same binaries run inside the busybox rootfs and a bare VM.
LDFLAGS ?= -static

# What `make demo` and `make test` need, as Debian and Ubuntu name it.
PACKAGES := gcc libc6-dev make binutils bats bats-support bats-assert \
            busybox-static procps util-linux

# What `make test-vm` needs besides: qemu to boot the kernel, cpio for its
# initramfs. (The kernel and bash-static are fetched by tests/vm/run-vm.sh.)
VM_PACKAGES := qemu-system-x86 cpio

# STAGE=04 (or 4, or 04-chroot) names one stage for shell, diff and test.
stage_name = $(filter 0$(patsubst 0%,%,$(firstword $(subst -, ,$(STAGE))))-%,$(STAGES))
STAGE_NAME  = $(or $(stage_name),$(error STAGE=$(STAGE) is not one of: $(STAGES)))

.PHONY: all rootfs deps vm-deps demo forkbomb doctor test test-vm shell diff clean help
.DELETE_ON_ERROR:

all: $(BINS)

$(BUILD)/%: stages/%/container.c | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD):
	mkdir -p $@

rootfs: $(ROOTFS)

$(ROOTFS): rootfs-builder/build-rootfs.sh rootfs-builder/deb-cache.sh
	rootfs-builder/build-rootfs.sh $@

# Install only the packages that are missing; apt-get needs root.
deps:
	@missing=""; \
	for pkg in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' "$$pkg" 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

demo: deps all rootfs
	stages/doctor.sh
	stages/demo.sh

# The finale: a fork bomb held at pids.max, watched live from the host.
PIDS_MAX ?= 20
DURATION ?= 5
forkbomb: deps all rootfs
	PIDS_MAX='$(PIDS_MAX)' DURATION='$(DURATION)' stages/forkbomb.sh

# The preflight for a classroom machine: can the kit run here?
doctor:
	stages/doctor.sh

# The suite on this host, then in two VMs (cgroup v2 only, cgroup v1 only).
# In the VMs, every test file runs against stages 04 and 05, the stages whose
# behaviour depends on the cgroup layout; `make test-vm` runs all five there.
test: deps vm-deps all rootfs
	tests/run
	VM_STAGES='04 05' tests/vm/run-vm.sh

# The whole suite in two VMs: one with cgroup v2 only, one with v1 only.
test-vm: vm-deps all rootfs
	tests/vm/run-vm.sh

# After deps, not beside it: two apt-gets at once would fight over the lock.
vm-deps: deps
	@$(MAKE) --no-print-directory deps PACKAGES='$(VM_PACKAGES)'

shell: all rootfs
	$(BUILD)/$(STAGE_NAME) run --hostname $(STAGE_NAME) sh -l

diff:
	@prev=; for s in $(STAGES); do [ "$$s" = $(STAGE_NAME) ] && break; prev=$$s; done; \
	if [ -z "$$prev" ]; then echo "$(STAGE_NAME) is the first stage: read stages/$(STAGE_NAME)/container.c"; \
	else diff -u "stages/$$prev/container.c" "stages/$(STAGE_NAME)/container.c" || [ $$? -eq 1 ]; fi

# A runtime killed with SIGKILL cannot remove its cgroup; rmdir removes the
# empty ones it left (a running container's cgroup is not empty, and stays).
clean:
	rm -rf $(BUILD)
	-find /sys/fs/cgroup -maxdepth 2 -type d -name 'minidocker-*' -exec rmdir {} + 2>/dev/null

help:
	@echo 'make demo           install what is missing, build, and show each stage'
	@echo 'make forkbomb       a fork bomb held at pids.max (PIDS_MAX=20 DURATION=5)'
	@echo 'make doctor         check that this machine can run the kit (one line a check)'
	@echo 'make test           install what is missing, build, and run the test suite'
	@echo '                    here and in two VMs (cgroup v2 only, cgroup v1 only)'
	@echo 'make test-vm        the whole suite in the two VMs only'
	@echo 'make                build the five stages into $(BUILD)/'
	@echo 'make rootfs         build the busybox root filesystem into $(ROOTFS)'
	@echo 'make shell STAGE=04 an interactive shell inside that stage'
	@echo 'make diff STAGE=04  the lesson: what that stage adds to the one before'
	@echo 'make clean          remove $(BUILD)/ and any cgroup a killed run left'
