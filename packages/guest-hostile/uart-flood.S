/* uart-flood.S: floods COM1 with `rep outsb` of 1 KiB at a time, never looking at LSR (issue 15
 * §2: 1 MiB at a time took the VMM to 6 GB and killed it). Argument: KiB to send (0: for ever,
 * until the time limit); then it exits 0 at once. The VMM must stay alive with bounded memory: a
 * busy output holds THR/the FIFO full and the bytes written past it are lost and counted. */
#include "lib.h"

	.text
	.globl hostile_main
hostile_main:
	movq	%rdi, %r12
	/* 1 MiB of printable text: 63 'x' and a newline per 64 bytes (few instructions: ring-0
	 * code is emulated instruction by instruction on kvm_pvm). */
	movl	$buf, %edi
	movabsq	$0x7878787878787878, %rax
	movl	$(1 << 17), %ecx
	rep stosq
	movl	$(buf + 63), %edi
	movl	$(1 << 14), %ecx
1:	movb	$'\n', (%rdi)
	addq	$64, %rdi
	decl	%ecx
	jnz	1b
3:	movl	$buf, %esi
	movl	$1024, %ecx
	movw	$HYV_PORTS_COM1, %dx
	rep outsb
	testq	%r12, %r12
	jz	3b
	decq	%r12
	jnz	3b
	xorl	%eax, %eax
	ret

	.section .bss
	.balign 4096
buf:	.skip (1 << 20)

	.section .note.GNU-stack, "", @progbits
