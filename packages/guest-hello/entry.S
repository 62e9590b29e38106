/* entry.S: the ELF entry point. The VMM enters here in 64-bit long mode with interrupts off,
 * RSP on its small boot stack and RBX = RSI = the PVH start info (see guest-abi.ts). */

	.section .text.entry, "ax"
	.code64
	.globl _start
	.type _start, @function
_start:
	cld				/* the ABI wants DF=0 on calls; do not rely on the VMM */

	/* Zero .bss (the stack below is in it too, and unused yet). Bounds are 8-aligned by the
	 * linker script; one `rep stosq` is cheap even where ring-0 code is emulated. RSI (the
	 * start info) is not touched. */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$3, %ecx
	xorl	%eax, %eax
	rep stosq

	/* Our own stack: the boot stack is the VMM's (0x7800..0x8ff0), below the 1 MiB mark. */
	movl	$stack_top, %esp
	xorl	%ebp, %ebp		/* end of frame-pointer chain */

	movq	%rsi, %rdi		/* main(start_info) */
	call	main

	/* main returned: stop. */
1:	cli
	hlt
	jmp	1b
	.size _start, . - _start

	.section .bss
	.balign 16
stack_bottom:
	.skip 16384
stack_top:

	/* No executable stack wanted (silences ld's warning). */
	.section .note.GNU-stack, "", @progbits
