/* random-hypercalls.S: 10^6 hypercalls with random numbers and arguments (issue 15 §4), under
 * `pv`. The argument is the seed (deterministic: the same seed makes the same calls). Numbers are
 * mostly the ABI's (0..15), sometimes any 32-bit value; arguments are random 64-bit values, or
 * addresses biased to the first pool pages and to a scratch area of RAM (8..16 MiB) this guest
 * does not otherwise use, or small integers. Left out, because they would legitimately stop this
 * guest rather than test the VMM: NEW_BASEPTR (it would switch to a table built at random) and
 * SCHED_OP(BLOCK) (it would sleep until an event this guest never asked for); SCHED_OP(YIELD) is
 * kept rare (each yields to the VMM's event loop). Every result must be
 * ≥ 0 or one of the documented errors (-EPERM, -EFAULT, -EBUSY, -EINVAL, -ENOSPC, -ENOSYS).
 * Result: 0, or 1 with the offending call's number in r12 (visible in the VMM's registers). */
#include "lib.h"

#define CALLS 1000000
#define SCRATCH 0x800000

	.text
	.globl hostile_main
hostile_main:
	movq	%rdi, %r15
	movabsq	$0x9e3779b97f4a7c15, %rax	/* a zero seed would stay zero */
	xorq	%rax, %r15
	movl	$CALLS, %r14d
1:	call	rand64
	movq	%rax, %rbx			/* selector bits */
	/* The number: 15 in 16 times one of 0..15, else any 32-bit value. */
	movl	%ebx, %r12d
	andl	$15, %r12d
	testl	$0xf0, %ebx
	jnz	2f
	call	rand64
	movl	%eax, %r12d
2:	call	arg
	movq	%rax, %rdi
	call	arg
	movq	%rax, %rsi
	call	arg
	movq	%rax, %r10
	call	arg
	movq	%rax, %r8
	call	arg
	movq	%rax, %r9
	/* Leave out what would stop this guest by design (see above). */
	cmpl	$HYV_HYPERCALL_MMUEXT_OP, %r12d
	jne	3f
	cmpq	$HYV_MMU_EXT_NEW_BASEPTR, %rdi
	jne	3f
	movl	$HYV_MMU_EXT_PIN_L4, %edi
3:	cmpl	$HYV_HYPERCALL_SCHED_OP, %r12d
	jne	4f
	movl	$HYV_SCHED_OP_YIELD, %edi
	/* A yield gives the VMM's event loop a turn (~1 ms): 1 in 64 of them, the rest become an
	 * unknown number (-ENOSYS), so 10^6 calls take seconds, not a minute. */
	testl	$0x3f00, %ebx
	jz	4f
	movl	$16, %r12d
4:	movl	%r12d, %eax
	call	hcall
	testq	%rax, %rax
	jns	6f
	cmpq	$E_PERM, %rax
	je	6f
	cmpq	$E_FAULT, %rax
	je	6f
	cmpq	$E_BUSY, %rax
	je	6f
	cmpq	$E_INVAL, %rax
	je	6f
	cmpq	$-28, %rax			/* ENOSPC */
	je	6f
	cmpq	$E_NOSYS, %rax
	je	6f
	FAIL(1)
6:	decl	%r14d
	jnz	1b
	xorl	%eax, %eax
	ret

/* One random argument: a small integer, a pool address, a scratch RAM address, or any value. */
arg:
	call	rand64
	movq	%rax, %rcx
	shrq	$60, %rcx			/* 4 bits choose the kind */
	cmpl	$4, %ecx
	jb	1f
	cmpl	$8, %ecx
	jb	2f
	cmpl	$12, %ecx
	jb	3f
	ret					/* any 64-bit value */
1:	andl	$7, %eax			/* a small integer: a command, a level, a count */
	ret
2:	andl	$0xfff8, %eax			/* an entry of one of the first 16 pool pages */
	orl	$HYV_PT_POOL_BASE, %eax		/* zero-extends: 0xc000xxxx */
	ret
3:	andl	$0x7ffff0, %eax			/* somewhere in the scratch 8 MiB */
	addq	$SCRATCH, %rax
	ret

	.section .note.GNU-stack, "", @progbits
