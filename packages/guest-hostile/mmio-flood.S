/* mmio-flood.S: MMIO floods (issue 15 §4) under an HVM strategy with an emulated LAPIC: random
 * 32-bit reads and writes at the LAPIC's registers (0xfee00000..0xfee00ff0, timer included: the
 * VMM caps timer storms) and at unassigned addresses below 4 GiB. The argument is the number of
 * accesses in thousands (0: 100 thousand). An unassigned address must read as all ones.
 * Result: 0, or 1 if an unassigned read saw anything else. */
#include "lib.h"

#define LAPIC 0xfee00000
#define UNASSIGNED 0xd0000000

	.text
	.globl hostile_main
hostile_main:
	movq	%rdi, %r14
	testq	%r14, %r14
	jnz	1f
	movl	$100, %r14d
1:	imulq	$1000, %r14, %r14
	movabsq	$0x2545f4914f6cdd1d, %r15
2:	call	rand64
	movq	%rax, %rbx
	movl	%ebx, %ecx
	andl	$0xff0, %ecx			/* a 16-byte aligned register offset */
	testl	$0x10000, %ebx
	jz	3f
	/* The LAPIC: write (random data) or read. */
	movl	$LAPIC, %edi
	addq	%rcx, %rdi
	shrq	$32, %rax
	testl	$0x20000, %ebx
	jz	4f
	movl	%eax, (%rdi)
	jmp	5f
4:	movl	(%rdi), %eax
	jmp	5f
	/* An unassigned address: writes are dropped, reads are all ones. */
3:	movl	$UNASSIGNED, %edi
	movl	%ebx, %ecx
	shrl	$4, %ecx
	andl	$0xfffffc, %ecx
	addq	%rcx, %rdi
	testl	$0x20000, %ebx
	jz	6f
	movl	%eax, (%rdi)
	jmp	5f
6:	movl	(%rdi), %eax
	cmpl	$0xffffffff, %eax
	je	5f
	FAIL(1)
5:	decq	%r14
	jnz	2b
	xorl	%eax, %eax
	ret

	.section .note.GNU-stack, "", @progbits
