/* lib.h: what every hostile guest shares (assembler only). Entry: lib.S calls
 * `hostile_main(rdi = the first decimal number on the command line, 0 if none)`; its return
 * value (eax) is written to the debug-exit port, which ends the run with that exit code.
 * Convention: 0 = every refusal came back as documented; N > 0 = check N failed (the guest's
 * source says which). */
#include "hyvisor_abi_asm.h"

/* Fails check N: returns N from hostile_main (the stack is reset by exit_with). */
#define FAIL(n) movl $(n), %eax; jmp exit_with

/* Hypercall: number in eax, arguments in rdi, rsi, r10, r8, r9; result in rax. Clobbers dx. */
#define HYPERCALL(nr) movl $(nr), %eax; call hcall

/* Expects rax == value (a 32-bit signed immediate), else fails check n. */
#define EXPECT(value, n) cmpq $(value), %rax; je 9f; FAIL(n); 9:

/* Hypercall errors as results. */
#define E_PERM (-1)
#define E_FAULT (-14)
#define E_BUSY (-16)
#define E_INVAL (-22)
#define E_NOSYS (-38)

#define PTE_P 1
#define PTE_W 2

/* Pool page i's guest-physical address. */
#define POOL(i) (HYV_PT_POOL_BASE + (i) * 4096)
/* Expects rax == an address (any 32-bit unsigned value, e.g. in the pool), else fails check n. */
#define EXPECT_ADDR(value, n) movl $(value), %ecx; cmpq %rcx, %rax; je 9f; FAIL(n); 9:
