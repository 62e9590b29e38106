/* random-ports.S: 10^6 random port accesses (issue 15 §4): any port, width 1, 2 or 4, read or
 * write, random data; the argument is the seed. Left out: the debug-exit port (0xf4..0xf7: a write
 * ends the run, by design) and the stall test device (0x514..0x517: it blocks the VMM on purpose,
 * within its budget). Under `hvm-userspace` this reaches the emulated PICs, PIT, port B, ATA disk,
 * the UART and every unowned port (which must read as all ones of the access width). Result: 0, or
 * 1 if an unowned port (0xcf8..0xcff, the PCI configuration ports, none here) read anything but
 * all ones. */
#include "lib.h"

#define ACCESSES 1000000

	.text
	.globl hostile_main
hostile_main:
	movq	%rdi, %r15
	movabsq	$0xd1b54a32d192ed03, %rax
	xorq	%rax, %r15
	movl	$ACCESSES, %r14d
1:	call	rand64
	movq	%rax, %rbx
	movl	%ebx, %edx
	andl	$0xffff, %edx			/* the port */
	movl	%edx, %ecx
	andl	$0xfffc, %ecx
	cmpl	$HYV_PORTS_DEBUG_EXIT, %ecx
	je	9f
	cmpl	$HYV_PORTS_STALL, %ecx
	je	9f
	movq	%rbx, %rax
	shrq	$32, %rax			/* the data */
	movq	%rbx, %rcx
	shrq	$16, %rcx
	andl	$7, %ecx			/* width and direction */
	cmpl	$0, %ecx
	je	10f
	cmpl	$1, %ecx
	je	11f
	cmpl	$2, %ecx
	je	12f
	cmpl	$3, %ecx
	je	13f
	cmpl	$4, %ecx
	je	14f
	inl	%dx, %eax
	jmp	9f
10:	outb	%al, %dx
	jmp	9f
11:	outw	%ax, %dx
	jmp	9f
12:	outl	%eax, %dx
	jmp	9f
13:	inb	%dx, %al
	jmp	9f
14:	inw	%dx, %ax
9:	decl	%r14d
	jnz	1b
	/* Unowned ports read as all ones of the access width. */
	movw	$0xcf8, %dx
	inl	%dx, %eax
	cmpl	$0xffffffff, %eax
	je	2f
	FAIL(1)
2:	movw	$0xcfc, %dx
	inw	%dx, %ax
	cmpw	$0xffff, %ax
	je	3f
	FAIL(1)
3:	xorl	%eax, %eax
	ret

	.section .note.GNU-stack, "", @progbits
