/* cr3-variants.S: variants of the stale-CR3 attack under `pv` (issue 15 §4), all through the
 * hypercalls, so they hold on both backends:
 *   1. unpin or release the L4 the vCPU runs on (the VMM's boot tables): -EBUSY;
 *   2. release a table another pinned table references: -EBUSY;
 *   3. redeclare a declared table at another level: -EBUSY; announce an unpinned or non-L4 table:
 *      -EINVAL;
 *   4. stale translations after a release: map VA 2 MiB through L1 table T to a frame holding
 *      0x11, read it (the TLB keeps it), unhook and release T, declare it again mapping a frame
 *      holding 0x22, hook it back and read again WITHOUT invlpg: the VMM dropped the cached
 *      translation at the release (emulator) or refreshed the pool before T was declared again
 *      (KVM), so the read sees 0x22.
 * Result: 0, or the number of the check that failed. */
#include "lib.h"

#define A   POOL(0)
#define L3  POOL(1)
#define L2  POOL(2)
#define T   POOL(4)
#define F1  0x380000
#define F2  0x381000
#define VA  0x200000

	.text
	.globl hostile_main
hostile_main:
	/* 1. The boot L4 (in CR3) can be neither unpinned nor released. */
	movq	%cr3, %rsi
	movq	%rsi, %r13
	movl	$HYV_MMU_EXT_UNPIN_L4, %edi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 1)
	movq	%r13, %rsi
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 2)

	/* Markers in two frames (written through the boot tables, which map all RAM). */
	movb	$0x11, F1
	movb	$0x22, F2

	/* A: L4 → L3 → L2: [0] = the first 2 MiB (this code, stack, start info), [1] = T: VA → F1. */
	movq	$A, %rsi
	movl	$4, %r10d
	call	declare
	movq	$L3, %rsi
	movl	$3, %r10d
	call	declare
	movq	$L2, %rsi
	movl	$2, %r10d
	call	declare
	movq	$T, %rsi
	movl	$1, %r10d
	call	declare
	movl	$tree, %edi
	movl	$5, %esi
	HYPERCALL(HYV_HYPERCALL_MMU_UPDATE)
	EXPECT(5, 3)
	movl	$HYV_MMU_EXT_PIN_L4, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 4)

	/* 2. Tables a pinned table references cannot be released. */
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	movq	$L3, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 5)
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	movq	$T, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 6)

	/* 3. Redeclaring at another level, announcing what is not a pinned L4. */
	movl	$HYV_MMU_EXT_DECLARE_TABLE, %edi
	movq	$L2, %rsi
	movl	$4, %r10d
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 7)
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$L3, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_INVAL, 8)
	movl	$HYV_MMU_EXT_PIN_L4, %edi
	movq	$L2, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_INVAL, 9)
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$POOL(9), %rsi			/* never declared */
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_INVAL, 10)

	/* 4. Run on A; read VA (→ F1) so the translation is cached. */
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 11)
	movzbl	VA, %eax
	EXPECT(0x11, 12)
	/* Unhook T, release it, declare it again mapping F2, hook it back. */
	movl	$unhook, %edi
	movl	$1, %esi
	HYPERCALL(HYV_HYPERCALL_MMU_UPDATE)
	EXPECT(1, 13)
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	movq	$T, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 14)
	movq	$T, %rsi
	movl	$1, %r10d
	call	declare
	movl	$rehook, %edi
	movl	$2, %esi
	HYPERCALL(HYV_HYPERCALL_MMU_UPDATE)
	EXPECT(2, 15)
	movzbl	VA, %eax			/* no invlpg: a stale translation would give 0x11 */
	EXPECT(0x22, 16)

	/* Back to the boot tables; A can go now. */
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	%r13, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 17)
	movl	$HYV_MMU_EXT_UNPIN_L4, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 18)
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 19)
	xorl	%eax, %eax
	ret

/* DECLARE_TABLE(rsi, level r10); fails check 30 + level if refused. */
declare:
	movl	$HYV_MMU_EXT_DECLARE_TABLE, %edi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	testq	%rax, %rax
	jnz	1f
	ret
1:	leal	30(%r10), %eax
	jmp	exit_with

	.data
	.balign 16
tree:
	.quad	A, L3 + PTE_P + PTE_W
	.quad	L3, L2 + PTE_P + PTE_W
	.quad	L2, 0x000000 + PTE_P + PTE_W + 0x80
	.quad	L2 + 8, T + PTE_P + PTE_W
	.quad	T, F1 + PTE_P + PTE_W
unhook:
	.quad	L2 + 8, 0
rehook:
	.quad	T, F2 + PTE_P + PTE_W
	.quad	L2 + 8, T + PTE_P + PTE_W

	.section .note.GNU-stack, "", @progbits
