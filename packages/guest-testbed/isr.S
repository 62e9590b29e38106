/* isr.S: the kernel's entry and exit paths. Everything here runs at ring 0, which kvm_pvm
 * emulates at ~0.33 us per instruction, so the paths are short:
 *   exc_N          exceptions 0-31: full register frame, trap_handler(frame) (#PF, panics)
 *   irq_N          PIC lines 0-15: caller-saved registers only, irq_dispatch(line)
 *   sysgate_int3   system calls through IDT vector 3 (DPL 3 gate), used on kvm_pvm
 *   sysgate_syscall  system calls through the syscall instruction (LSTAR), used elsewhere
 *   enter_user / leave_user   start a ring-3 process; return from it to the kernel (exit)
 *   sysgate_pv_int3, sysgate_pv_syscall, pv_enter_user   the PV system-call bounce (cpu_pv_*)
 *   evtchn_upcall_stub   the event-channel upcall vector (irq_evtchn)
 * System-call ABI: rax = number, rdi/rsi/rdx = arguments, result in rax. The gate preserves
 * only the callee-saved registers (rbx, rbp, rsp, r12-r15): rcx, rdx, rsi, rdi, r8-r11 are
 * clobbered, as the user-side wrapper declares. */
#include "segments.h"
#include "hyvisor_abi_asm.h"	/* hyvisor_abi.h without the C "u" suffixes (Makefile) */

/* The hypercall doorbell: EAX = number, DX = Ports.HYPERCALL, outl; result in RAX. Counts the call
 * in pv_calls[nr] as the C wrapper does. */
	.macro HYPERCALL nr
	movl	$\nr, %eax
	movl	$HYV_PORTS_HYPERCALL, %edx
	outl	%eax, %dx
	incq	pv_calls+8*\nr(%rip)
	.endm

	.section .text.hot, "ax"	/* see HOT_TEXT in kernel.h */
	.code64

/* ---- exceptions */
	.macro EXC vec
	.p2align 4
exc_\vec:
	.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0			/* no error code from the CPU: keep the frame uniform */
	.endif
	pushq	$\vec
	jmp	exc_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	EXC \v
	.endr

/* Stack: CPU frame (5 words) + error + vector + 15 registers = 22 words (16-byte aligned, as the
 * CPU aligns RSP before pushing its frame). Layout = struct trap_frame. */
exc_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	call	trap_handler
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp
	iretq

	.section .rodata
	.p2align 3
	.globl exc_stubs
exc_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	exc_\v
	.endr
	.section .text.hot, "ax"

/* ---- hardware interrupts (PIC lines 0-15, vectors 0x20-0x2f) */
	.macro IRQ line
	.p2align 4
irq_\line:
	pushq	$\line
	jmp	irq_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	IRQ \v
	.endr

/* CPU frame (5) + line (1) + 9 caller-saved + 1 pad = 16 words. */
irq_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	subq	$8, %rsp
	cld
	movq	80(%rsp), %rdi
	call	irq_dispatch
	addq	$8, %rsp
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$8, %rsp
	iretq

	.section .rodata
	.p2align 3
	.globl irq_stubs
irq_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.quad	irq_\v
	.endr
	.section .text.hot, "ax"

/* ---- system calls: the int3 gate (kvm_pvm). The CPU switched to RSP0 and pushed 5 words. */
	.p2align 4
	.globl sysgate_int3
sysgate_int3:
	cld
	subq	$8, %rsp		/* 16-byte alignment for the call */
	movq	%rdx, %rcx
	movq	%rsi, %rdx
	movq	%rdi, %rsi
	movq	%rax, %rdi
	call	syscall_dispatch	/* (nr, a0, a1, a2) */
	addq	$8, %rsp
	iretq

/* ---- system calls: syscall/sysretq. FMASK cleared IF and DF; RSP is still the user's. One CPU,
 * no preemption inside a system call: plain globals hold the stacks. */
	.p2align 4
	.globl sysgate_syscall
sysgate_syscall:
	movq	%rsp, syscall_user_rsp(%rip)
	movq	syscall_kernel_rsp(%rip), %rsp
	pushq	%rcx			/* user RIP */
	pushq	%r11			/* user RFLAGS */
	movq	%rdx, %rcx
	movq	%rsi, %rdx
	movq	%rdi, %rsi
	movq	%rax, %rdi
	call	syscall_dispatch
	popq	%r11
	popq	%rcx
	movq	syscall_user_rsp(%rip), %rsp
	sysretq

	.section .text.hot.pv, "ax"	/* after the native paths (testbed.ld) */
/* ---- PV system calls: the bounce through the hypervisor. The int3 gate (kvm_pvm): the CPU
 * switched to RSP0 and pushed the iretq frame {rip, cs, rflags, rsp, ss}, which is what IRET
 * validates; the stack is identity-mapped RAM, so its address is its gpa. RSP = 8 mod 16 here. */
	.p2align 4
	.globl sysgate_pv_int3
sysgate_pv_int3:
	cld
sysgate_pv_common:
	pushq	%rax			/* nr */
	pushq	%rdx			/* a2 */
	HYPERCALL HYV_HYPERCALL_SYSCALL_ENTRY
	testq	%rax, %rax
	jnz	1f
	popq	%rcx			/* a2 */
	movq	%rsi, %rdx		/* a1 */
	movq	%rdi, %rsi		/* a0 */
	popq	%rdi			/* nr */
	subq	$8, %rsp		/* 16-byte alignment for the call; the slot keeps the result */
	call	syscall_dispatch	/* (nr, a0, a1, a2) */
	movq	%rax, (%rsp)
	leaq	8(%rsp), %rdi		/* frame_gpa */
	HYPERCALL HYV_HYPERCALL_IRET
	testq	%rax, %rax
	jnz	2f
	popq	%rax			/* the system call's result */
	iretq
1:	movq	%rax, %rsi		/* pv_gate_failed(SYSCALL_ENTRY, rc, frame) */
	movl	$HYV_HYPERCALL_SYSCALL_ENTRY, %edi
	leaq	16(%rsp), %rdx
	subq	$8, %rsp
	call	pv_gate_failed
	jmp	halt_here
2:	movq	%rax, %rsi		/* pv_gate_failed(IRET, rc, frame) */
	movl	$HYV_HYPERCALL_IRET, %edi
	leaq	8(%rsp), %rdx
	call	pv_gate_failed
halt_here:
	cli
	hlt
	jmp	halt_here

/* The syscall instruction (other hosts): build the iretq frame the int3 gate would have, from
 * RCX (rip), R11 (rflags) and the user RSP, on the kernel stack; then the same path, which returns
 * with iretq instead of sysretq. */
	.p2align 4
	.globl sysgate_pv_syscall
sysgate_pv_syscall:
	movq	%rsp, syscall_user_rsp(%rip)
	movq	syscall_kernel_rsp(%rip), %rsp
	pushq	$USER_DS
	pushq	syscall_user_rsp(%rip)
	pushq	%r11
	pushq	$USER_CS
	pushq	%rcx
	cld
	jmp	sysgate_pv_common

/* ---- uint64_t pv_enter_user(...): enter_user, with the first return to ring 3 validated by
 * IRET(frame_gpa) like every later one. The arguments wait in RCX, R8, R9 (the hypercall only
 * reads RDI). */
	.p2align 4
	.globl pv_enter_user
pv_enter_user:
	movq	%rbx, KCTX_RBX(%rdi)
	movq	%rbp, KCTX_RBP(%rdi)
	movq	%r12, KCTX_R12(%rdi)
	movq	%r13, KCTX_R13(%rdi)
	movq	%r14, KCTX_R14(%rdi)
	movq	%r15, KCTX_R15(%rdi)
	movq	%rsp, KCTX_RSP(%rdi)
	pushq	$USER_DS
	pushq	%rdx
	pushq	$0x202			/* IF=1 */
	pushq	$USER_CS
	pushq	%rsi
	movq	%rsp, %rdi		/* frame_gpa: the kernel stack is identity-mapped RAM */
	HYPERCALL HYV_HYPERCALL_IRET
	testq	%rax, %rax
	jnz	3f
	movq	%rcx, %rdi
	movq	%r8, %rsi
	movq	%r9, %rdx
	xorl	%eax, %eax		/* no kernel values into ring 3 */
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%ebp, %ebp
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	iretq
3:	movq	%rax, %rsi
	movl	$HYV_HYPERCALL_IRET, %edi
	movq	%rsp, %rdx
	andq	$-16, %rsp
	call	pv_gate_failed
	jmp	halt_here

/* ---- the event-channel upcall (SET_CALLBACK's vector): caller-saved registers, then
 * evtchn_upcall() scans the shared-info page. No EOI. */
	.p2align 4
	.globl evtchn_upcall_stub
evtchn_upcall_stub:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11			/* CPU frame (5) + 9 = 14 words: RSP = 0 mod 16 */
	cld
	call	evtchn_upcall
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	iretq

	.section .text.hot, "ax"
/* ---- uint64_t enter_user(struct kctx *ctx, uint64_t rip, uint64_t rsp,
 *                           uint64_t a0, uint64_t a1, uint64_t a2)
 * Saves the callee-saved registers and RSP in ctx, then iretq to ring 3 at rip with
 * rdi/rsi/rdx = a0/a1/a2 and interrupts enabled. Returns the status leave_user passes. */
	.p2align 4
	.globl enter_user
enter_user:
	movq	%rbx, KCTX_RBX(%rdi)
	movq	%rbp, KCTX_RBP(%rdi)
	movq	%r12, KCTX_R12(%rdi)
	movq	%r13, KCTX_R13(%rdi)
	movq	%r14, KCTX_R14(%rdi)
	movq	%r15, KCTX_R15(%rdi)
	movq	%rsp, KCTX_RSP(%rdi)
	pushq	$USER_DS
	pushq	%rdx
	pushq	$0x202			/* IF=1 */
	pushq	$USER_CS
	pushq	%rsi
	movq	%rcx, %rdi
	movq	%r8, %rsi
	movq	%r9, %rdx
	xorl	%eax, %eax		/* no kernel values into ring 3 */
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%ebp, %ebp
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	iretq

/* ---- void leave_user(struct kctx *ctx, uint64_t status): back into enter_user's caller. The
 * trap frame on the RSP0 stack is abandoned; the next entry from ring 3 starts at its top. */
	.p2align 4
	.globl leave_user
leave_user:
	movq	KCTX_RBX(%rdi), %rbx
	movq	KCTX_RBP(%rdi), %rbp
	movq	KCTX_R12(%rdi), %r12
	movq	KCTX_R13(%rdi), %r13
	movq	KCTX_R14(%rdi), %r14
	movq	KCTX_R15(%rdi), %r15
	movq	KCTX_RSP(%rdi), %rsp
	movq	%rsi, %rax
	ret

	.text
/* ---- void gdt_load(const struct desc_ptr *p): lgdt, reload the segment registers, far return
 * into KERNEL_CS. */
	.p2align 4
	.globl gdt_load
gdt_load:
	lgdt	(%rdi)
	movl	$KERNEL_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	popq	%rax
	pushq	$KERNEL_CS
	pushq	%rax
	lretq

	.section .note.GNU-stack, "", @progbits
