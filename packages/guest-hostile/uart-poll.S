/* uart-poll.S: a well-behaved console writer at full speed: it enables the FIFOs, polls LSR.THRE
 * and then writes 16 bytes, as Linux's 8250 driver does. Argument: KiB to send (0: for ever).
 * Every byte must arrive, however slowly the host side reads (a busy output keeps THRE clear);
 * ends with TEMT and exit 0. */
#include "lib.h"

	.text
	.globl hostile_main
hostile_main:
	movq	%rdi, %r12
	shlq	$10, %r12			/* bytes to send (0: for ever) */
	movw	$(HYV_PORTS_COM1 + 2), %dx	/* FCR: FIFOs on, both cleared */
	movb	$0x07, %al
	outb	%al, %dx
	xorl	%ebx, %ebx			/* bytes sent */
1:	movw	$(HYV_PORTS_COM1 + 5), %dx	/* LSR */
2:	inb	%dx, %al
	testb	$0x20, %al			/* THRE */
	jz	2b
	movw	$HYV_PORTS_COM1, %dx
	movl	$16, %ecx
3:	movl	%ebx, %eax			/* byte i is 'a' + i mod 26 within a line of 64 */
	andl	$63, %eax
	cmpl	$63, %eax
	jne	4f
	movb	$'\n', %al
	jmp	5f
4:	xorl	%edx, %edx
	movl	%ebx, %eax
	movl	$26, %r8d
	divl	%r8d
	leal	'a'(%rdx), %eax
	movw	$HYV_PORTS_COM1, %dx
5:	outb	%al, %dx
	incq	%rbx
	testq	%r12, %r12
	jz	6f
	cmpq	%r12, %rbx
	je	7f
6:	decl	%ecx
	jnz	3b
	jmp	1b
7:	movw	$(HYV_PORTS_COM1 + 5), %dx
8:	inb	%dx, %al
	testb	$0x40, %al			/* TEMT */
	jz	8b
	xorl	%eax, %eax
	ret

	.section .note.GNU-stack, "", @progbits
