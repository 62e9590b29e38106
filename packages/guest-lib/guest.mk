# guest.mk: what every Hyvisor guest's Makefile shares, kept in one place. A guest sets ELF
# (and, if it likes, extra sources) and includes this file; see guest-hello/Makefile.
# Needs the TypeScript built first: the ABI header is generated from packages/core.

CC      := gcc
OBJDUMP := objdump
READELF := readelf
NM      := nm
NODE    := node

BUILD   := build
ABI_GEN := ../core/dist/abi/c-header.js
ABI_SRC := ../core/dist/abi/guest-abi.js
ABI_H   := $(BUILD)/hyvisor_abi.h
ABI_ASM_H := $(BUILD)/hyvisor_abi_asm.h

# Pinned: no libc, no PIC, no red zone (interrupts and exceptions arrive on the current stack at
# ring 0), and no SSE/AVX registers, which kvm_pvm cannot execute at ring 0.
CFLAGS  := -ffreestanding -nostdlib -static -fno-pic -fno-pie -no-pie -mno-red-zone \
           -march=x86-64 -mgeneral-regs-only -fno-stack-protector \
           -fno-asynchronous-unwind-tables -O2 -Wall -Wextra -Werror -std=gnu11
# The freestanding pieces the guests share (UART, formatting, string, start info, port I/O).
LIB     := ../guest-lib
vpath %.c $(LIB)
CPPFLAGS := -I$(BUILD) -I. -I$(LIB) -MMD -MP
LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -z max-page-size=0x1000

# Instructions that fail (KVM_EXIT_INTERNAL_ERROR) or hang at ring 0 on kvm_pvm (see
# docs/kvm-pvm.md). Kernel code must contain none of them, nor any SSE/AVX register. Ring-3 code
# runs natively and may execute `int3` (the system-call gate on kvm_pvm), nothing else on the list.
# packages/guest-testbed/src/ring0-scan.ts checks the same list from a test.
FORBIDDEN      := int3|int|into|vmcall|vmmcall|popcnt|rdtscp|rdpid|xsave[a-z0-9]*|xrstor[a-z0-9]*|xgetbv|cmpxchg16b|stac|clac
FORBIDDEN_USER := int|into|vmcall|vmmcall|popcnt|rdtscp|rdpid|xsave[a-z0-9]*|xrstor[a-z0-9]*|xgetbv|cmpxchg16b|stac|clac
# $(call scan,section,objdump options,forbidden list): fails the link of $@.tmp if the section has any.
scan = if $(OBJDUMP) -d --no-show-raw-insn $(2) -j $(1) $@.tmp | awk -F'\t' 'NF >= 2 { sub(/<.*/, "", $$2); print $$2 }' \
	    | grep -Ewq '$(3)'; then \
	  echo "$@: section $(1) contains instructions it must not execute on kvm_pvm:" >&2; \
	  $(OBJDUMP) -d --no-show-raw-insn $(2) -j $(1) $@.tmp | grep -Ew '$(3)' >&2; rm -f $@.tmp; exit 1; fi; \
	if $(OBJDUMP) -d $(2) -j $(1) $@.tmp | grep -Eq '%[xyz]mm[0-9]'; then \
	  echo "$@: section $(1) uses SSE/AVX registers" >&2; rm -f $@.tmp; exit 1; fi

# Links $(OBJS) with linker script $(1) into $@.tmp; the load address comes from the generated
# header (its constants carry a C "u" suffix, which the linker script language does not accept,
# hence the sed).
link = $(CC) $(CFLAGS) $(LDFLAGS) -T $(1) \
	  -Wl,--defsym=HYV_LOAD_ADDR=$$(sed -n 's/^\#define HYV_BOOT_LAYOUT_KERNEL_MIN \(0x[0-9a-f]*\)u$$/\1/p' $(ABI_H)) \
	  -o $@.tmp $(OBJS)

$(BUILD):
	@mkdir -p $@

$(ABI_H): $(ABI_GEN) $(ABI_SRC) | $(BUILD)
	$(NODE) $(ABI_GEN) $@

# The same constants for the assembler, which does not take C's "u" suffix.
$(ABI_ASM_H): $(ABI_H)
	sed 's/^\(#define [A-Z0-9_]* 0x[0-9a-f]*\)u$$/\1/' $< > $@

$(BUILD)/%.o: %.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# GCC may turn the byte loops of memset/memcpy into calls to memset/memcpy themselves.
$(BUILD)/string.o: CFLAGS += -fno-tree-loop-distribute-patterns

$(BUILD)/%.o: %.S | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

.PHONY: clean
clean:
	rm -rf $(BUILD)
