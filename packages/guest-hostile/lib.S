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

/* Installs an IDT whose #GP handler skips the faulting `mov %rax, %cr3` (3 bytes) and counts
 * it in gp_count, and whose #PF handler skips a 3-byte `mov (%rbx), %rax`-style load, counting
 * pf_count: refusals the hardware signals become values the guest can check. */
	.globl install_idt
install_idt:
	movl	$gp_handler, %eax
	movl	$(13 * 16), %ecx
	call	set_gate
	movl	$pf_handler, %eax
	movl	$(14 * 16), %ecx
	call	set_gate
	lidt	idt_ptr
	ret

/* IDT entry at idt+ecx: interrupt gate to eax, selector 0x08 (the boot GDT's code), present. */
set_gate:
	movw	%ax, idt(%rcx)
	movw	$0x08, idt+2(%rcx)
	movw	$0x8e00, idt+4(%rcx)
	shrl	$16, %eax
	movw	%ax, idt+6(%rcx)
	movl	$0, idt+8(%rcx)
	movl	$0, idt+12(%rcx)
	ret

gp_handler:
	addq	$8, %rsp			/* error code */
	addq	$3, (%rsp)			/* skip `mov %rax, %cr3` */
	incl	gp_count
	iretq

pf_handler:
	addq	$8, %rsp
	addq	$3, (%rsp)			/* skip `mov (%rbx), %rax` */
	incl	pf_count
	iretq

	.data
	.balign 8
idt_ptr:
	.word	256 * 16 - 1
	.quad	idt
	.globl gp_count, pf_count
gp_count:	.long 0
pf_count:	.long 0

	.section .bss
	.balign 4096
idt:	.skip	256 * 16
	.balign 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
