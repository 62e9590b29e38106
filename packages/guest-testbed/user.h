/* user.h: the interface between the kernel and the ring-3 code in user.c. */
#ifndef GUEST_USER_H
#define GUEST_USER_H

/* Which program a process runs (user_main's second argument). */
enum user_program {
	UPROG_CPU = 0,
	UPROG_SYSCALL = 1,
	UPROG_MEMORY = 2,
	UPROG_IO = 3,
};

/* Exit status bit: the program's self-check failed; the low 32 bits carry its result. */
#define USTATUS_FAILED (1ull << 32)

/* user_main(gate, program, iterations): the process entry point, at a user virtual address. */
void user_main(unsigned long gate, unsigned long program, unsigned long iterations);

#endif /* GUEST_USER_H */
