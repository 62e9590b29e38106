/* entry.S: the two entry points of the one ELF image.
 *
 * _start: the ELF entry, used by Hyvisor. 64-bit long mode, identity map of the first 4 GiB,
 *   interrupts off, RBX (and RSI) = the PVH start info.
 * pvh_start32: named by the XEN_ELFNOTE_PHYS32_ENTRY note, used by QEMU (-kernel with a PVH ELF).
 *   32-bit protected mode, paging off, flat segments, EBX = the start info, no stack. It builds
 *   an identity map of the first 4 GiB (2 MiB pages), enables long mode and joins _start.
 * Both end up in kmain(start_info) on the kernel's boot stack, with .bss zeroed. */
#include "segments.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18	/* Xen's public/elfnote.h */
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define PTE_P_RW 0x3
#define PDE_2M 0x83			/* present, writable, page size */

/* ---- PVH note: name "Xen", desc = 64-bit entry address (QEMU reads a 64-bit value for an
 * ELF64 image; Linux emits .quad too). 4-byte aligned as ELF notes are. */
	.section .note.Xen, "a", @note
	.p2align 2
	.long	2f - 1f			/* namesz */
	.long	4f - 3f			/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz	"Xen"
2:	.p2align 2
3:	.quad	pvh_start32
4:	.p2align 2

/* ---- 64-bit entry (Hyvisor) */
	.section .text.entry, "ax"
	.code64
	.globl _start
	.type _start, @function
_start:
	cli
	cld				/* the ABI wants DF=0 on calls; do not rely on the loader */

	/* Zero .bss; RBX (the start info) is not touched. */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$3, %ecx
	xorl	%eax, %eax
	rep stosq

	movl	$boot_stack_top, %esp
	xorl	%ebp, %ebp		/* end of the frame-pointer chain */
	movq	%rbx, %rdi		/* kmain(start_info) */
	call	kmain
1:	cli
	hlt
	jmp	1b
	.size _start, . - _start

/* ---- 32-bit PVH entry (QEMU) */
	.section .boot32, "ax"
	.code32
	.globl pvh_start32
	.type pvh_start32, @function
pvh_start32:
	cli
	cld
	movl	%ebx, %esi		/* keep the start info */

	/* Zero the boot page tables: PML4, PDPT, 4 PDs. */
	movl	$boot_pml4, %edi
	movl	$(6 * 4096 / 4), %ecx
	xorl	%eax, %eax
	rep stosl

	movl	$boot_pdpt, %eax
	orl	$PTE_P_RW, %eax
	movl	%eax, boot_pml4

	/* PDPT[0..3] -> the four PDs */
	movl	$boot_pdpt, %edi
	movl	$boot_pd, %eax
	orl	$PTE_P_RW, %eax
	movl	$4, %ecx
1:	movl	%eax, (%edi)
	addl	$4096, %eax
	addl	$8, %edi
	loop	1b

	/* 2048 PDEs of 2 MiB: 0..4 GiB (the high halves stay zero) */
	movl	$boot_pd, %edi
	movl	$PDE_2M, %eax
	movl	$2048, %ecx
2:	movl	%eax, (%edi)
	addl	$0x200000, %eax
	addl	$8, %edi
	loop	2b

	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$boot_pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0		/* now in compatibility mode */

	lgdt	boot_gdt_ptr
	ljmp	$KERNEL_CS, $pvh_start64

	.code64
pvh_start64:
	movl	$KERNEL_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%esi, %ebx		/* zero-extends: RBX = start info, as the 64-bit entry expects */
	jmp	_start
	.size pvh_start32, . - pvh_start32

	/* Temporary GDT: null, 64-bit code at KERNEL_CS, data at KERNEL_DS. */
	.p2align 3
boot_gdt:
	.quad	0
	.quad	0x00af9a000000ffff
	.quad	0x00cf92000000ffff
boot_gdt_end:
boot_gdt_ptr:
	.word	boot_gdt_end - boot_gdt - 1
	.long	boot_gdt

	.section .boot_bss, "aw", @nobits
	.p2align 12
boot_pml4:
	.skip	4096
boot_pdpt:
	.skip	4096
boot_pd:
	.skip	4 * 4096

	.section .bss
	.p2align 4
	.globl boot_stack_top
boot_stack:
	.skip	16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
