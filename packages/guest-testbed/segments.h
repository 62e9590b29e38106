/* segments.h: the kernel's GDT layout, shared by C and assembly (plain numbers, no C syntax).
 * The order is the one syscall/sysret needs: STAR[47:32] = KERNEL_CS (SS = +8),
 * STAR[63:48] = KERNEL_DS (sysretq loads CS = +16 = USER_CS, SS = +8 = USER_DS, RPL 3). */
#ifndef GUEST_SEGMENTS_H
#define GUEST_SEGMENTS_H

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS   0x1b /* 0x18 | RPL 3 */
#define USER_CS   0x23 /* 0x20 | RPL 3 */
#define TSS_SEL   0x28 /* 16-byte system descriptor: slots 5 and 6 */
#define GDT_ENTRIES 7

/* Saved kernel context of enter_user/leave_user (struct kctx in kernel.h). */
#define KCTX_RBX 0
#define KCTX_RBP 8
#define KCTX_R12 16
#define KCTX_R13 24
#define KCTX_R14 32
#define KCTX_R15 40
#define KCTX_RSP 48

#endif /* GUEST_SEGMENTS_H */
