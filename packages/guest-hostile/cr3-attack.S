/* cr3-attack.S: the stale-CR3 attack of issue 15 §1 on direct paging (strategy pv). The guest
 * (1) pins L4 table A, announces it and runs on it, (2) pins and announces a second L4 B hoping CR3
 * stays A, then puts A back into CR3 itself, (3) tries to unpin, release and redeclare A as a
 * level-1 table, (4) to write A[0] = an ordinary RAM page | P | RW. Were all four accepted, a page
 * of its own RAM would become its top-level table. Each step must be refused at the first point
 * that would leave CR3 holding an unvalidated table. Argument: 1 when the backend checks the
 * guest's own CR3 loads (the emulator), 0 on KVM (cooperative there; see docs/pv-abi.md).
 * Result: 0, or the number of the check that failed. */
#include "lib.h"

#define A   POOL(0)
#define L3  POOL(1)
#define L2  POOL(2)
#define B   POOL(3)
#define FREE POOL(4)

	.text
	.globl hostile_main
hostile_main:
	movq	%rdi, %r14			/* 1: CR3 loads are checked */
	call	install_idt
	/* The tables: A and B share an L3 and an L2 that map the first 4 MiB (this code, its stack,
	 * the start info) with two 2 MiB pages. */
	movq	$A, %rsi
	movl	$4, %r10d
	call	declare
	movq	$L3, %rsi
	movl	$3, %r10d
	call	declare
	movq	$L2, %rsi
	movl	$2, %r10d
	call	declare
	movq	$B, %rsi
	movl	$4, %r10d
	call	declare
	movl	$reqs, %edi
	movl	$5, %esi
	HYPERCALL(HYV_HYPERCALL_MMU_UPDATE)
	EXPECT(5, 1)

	/* Step 1: pin A, announce it: NEW_BASEPTR loads CR3 itself. */
	movl	$HYV_MMU_EXT_PIN_L4, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 2)
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 3)
	movq	%cr3, %rax
	EXPECT_ADDR(A, 4)

	/* Step 2: pin and announce B: CR3 follows, it cannot stay A. */
	movl	$HYV_MMU_EXT_PIN_L4, %edi
	movq	$B, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 5)
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$B, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 6)
	movq	%cr3, %rax
	EXPECT_ADDR(B, 7)
	/* The attacker puts A back into CR3 itself (A is still pinned: allowed). */
	movq	$A, %rax
	movq	%rax, %cr3
	movq	%cr3, %rax
	EXPECT_ADDR(A, 8)

	/* Step 3: A is in CR3: it can be neither unpinned nor released, nor redeclared. */
	movl	$HYV_MMU_EXT_UNPIN_L4, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 9)
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 10)
	movl	$HYV_MMU_EXT_DECLARE_TABLE, %edi
	movq	$A, %rsi
	movl	$1, %r10d
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_BUSY, 11)

	/* Step 4: A is still an L4: a RAM page is no L3 table. */
	movl	$bad_req, %edi
	movl	$1, %esi
	HYPERCALL(HYV_HYPERCALL_MMU_UPDATE)
	EXPECT(E_INVAL, 12)

	/* Where CR3 loads are checked: a table that is not a pinned L4 never gets in (#GP). */
	testq	%r14, %r14
	jz	1f
	movq	$FREE, %rax
	movq	%rax, %cr3			/* never declared */
	movq	$L3, %rax
	movq	%rax, %cr3			/* a declared L3 */
	movq	$0x200000, %rax
	movq	%rax, %cr3			/* guest RAM */
	cmpl	$3, gp_count
	je	2f
	FAIL(13)
2:	movq	%cr3, %rax
	EXPECT_ADDR(A, 14)
1:
	/* Back on B, A goes the legitimate way: unpin, release, redeclare as L1. */
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$B, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 15)
	movl	$HYV_MMU_EXT_UNPIN_L4, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 16)
	movl	$HYV_MMU_EXT_RELEASE_TABLE, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(0, 17)
	movq	$A, %rsi
	movl	$1, %r10d
	call	declare
	/* A is an L1 now: it can be neither pinned nor announced, and (checked loads) not loaded. */
	movl	$HYV_MMU_EXT_PIN_L4, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_INVAL, 18)
	movl	$HYV_MMU_EXT_NEW_BASEPTR, %edi
	movq	$A, %rsi
	HYPERCALL(HYV_HYPERCALL_MMUEXT_OP)
	EXPECT(E_INVAL, 19)
	testq	%r14, %r14
	jz	3f
	movq	$A, %rax
	movq	%rax, %cr3
	cmpl	$4, gp_count
	je	3f
	FAIL(20)
3:	movq	%cr3, %rax
	EXPECT_ADDR(B, 21)
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
reqs:
	.quad	A, L3 + PTE_P + PTE_W
	.quad	L3, L2 + PTE_P + PTE_W
	.quad	L2, 0x000000 + PTE_P + PTE_W + 0x80
	.quad	L2 + 8, 0x200000 + PTE_P + PTE_W + 0x80
	.quad	B, L3 + PTE_P + PTE_W
bad_req:
	.quad	A, 0x300000 + PTE_P + PTE_W

	.section .note.GNU-stack, "", @progbits
