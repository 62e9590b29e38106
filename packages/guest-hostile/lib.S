/* lib.S: entry, exit and helpers every hostile guest links with. */
#include "lib.h"

	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	cld
	movl	$stack_top, %esp
	xorl	%ebp, %ebp
	movq	%rsi, %rbx			/* PVH start info */
	call	parse_arg
	movq	%rax, %rdi
	call	hostile_main
	/* fall through: eax = result */
	.globl exit_with
exit_with:
	movl	$stack_top, %esp
	movw	$HYV_PORTS_DEBUG_EXIT, %dx
	outl	%eax, %dx
1:	cli
	hlt
	jmp	1b

	.text
/* rax = the first decimal number in the command line (start info at rbx), 0 if none. */
parse_arg:
	xorl	%eax, %eax
	movq	HYV_START_INFO_OFF_CMDLINE_PADDR(%rbx), %rsi
	testq	%rsi, %rsi
	jz	3f
1:	movzbl	(%rsi), %ecx			/* skip to the first digit */
	testl	%ecx, %ecx
	jz	3f
	subl	$'0', %ecx
	cmpl	$9, %ecx
	jbe	2f
	incq	%rsi
	jmp	1b
2:	imulq	$10, %rax, %rax			/* accumulate digits */
	addq	%rcx, %rax
	incq	%rsi
	movzbl	(%rsi), %ecx
	subl	$'0', %ecx
	cmpl	$9, %ecx
	jbe	2b
3:	ret

/* The hypercall doorbell: eax = number, arguments already in registers. */
	.globl hcall
hcall:
	movw	$HYV_PORTS_HYPERCALL, %dx
	outl	%eax, %dx
	ret

/* xorshift64 on the state in r15 (seeded by the guest); returns it in rax. */
	.globl rand64
rand64:
	movq	%r15, %rax
	shlq	$13, %rax
	xorq	%rax, %r15
	movq	%r15, %rax
	shrq	$7, %rax
	xorq	%rax, %r15
	movq	%r15, %rax
	shlq	$17, %rax
	xorq	%rax, %r15
	movq	%r15, %rax
	ret

	.section .bss
	.balign 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
