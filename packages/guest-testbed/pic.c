/* pic.c: the 8259A pair, the native interrupt controller. Lines 0-7 -> vectors 0x20-0x27 (master),
 * 8-15 -> 0x28-0x2f (slave), everything masked but the lines a workload unmasks. Each register
 * access is a VM exit under HVM; the EOI is the exit PV event channels do away with. */
#include "kernel.h"

#include "io.h"

#define PIC1_CMD HYV_PORTS_PIC_MASTER
#define PIC1_DATA (HYV_PORTS_PIC_MASTER + 1)
#define PIC2_CMD HYV_PORTS_PIC_SLAVE
#define PIC2_DATA (HYV_PORTS_PIC_SLAVE + 1)
#define ICW1_INIT_ICW4 0x11
#define ICW4_8086 0x01
#define OCW2_EOI 0x20
#define CASCADE_LINE 2
#define VECTOR_BASE 0x20

static uint16_t masks HOT_DATA = 0xffff; /* bit per line; 1 = masked */

static void write_masks(void)
{
	outb(PIC1_DATA, (uint8_t)masks);
	outb(PIC2_DATA, (uint8_t)(masks >> 8));
}

static bool pic_init(void)
{
	outb(PIC1_CMD, ICW1_INIT_ICW4);
	outb(PIC2_CMD, ICW1_INIT_ICW4);
	outb(PIC1_DATA, VECTOR_BASE);
	outb(PIC2_DATA, VECTOR_BASE + 8);
	outb(PIC1_DATA, 1u << CASCADE_LINE); /* slave on line 2 */
	outb(PIC2_DATA, CASCADE_LINE);       /* slave identity */
	outb(PIC1_DATA, ICW4_8086);
	outb(PIC2_DATA, ICW4_8086);
	masks = (uint16_t)~(1u << CASCADE_LINE);
	write_masks();
	/* Present if the mask register reads back (an absent device reads as all ones). */
	return inb(PIC1_DATA) == (uint8_t)masks;
}

static void pic_unmask(unsigned irq)
{
	masks &= (uint16_t)~(1u << irq);
	if (irq < 8)
		outb(PIC1_DATA, (uint8_t)masks);
	else
		outb(PIC2_DATA, (uint8_t)(masks >> 8));
}

static void pic_mask(unsigned irq)
{
	masks |= (uint16_t)(1u << irq);
	if (irq < 8)
		outb(PIC1_DATA, (uint8_t)masks);
	else
		outb(PIC2_DATA, (uint8_t)(masks >> 8));
}

HOT_TEXT static void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, OCW2_EOI);
	outb(PIC1_CMD, OCW2_EOI);
}

HOT_RODATA const struct irq_ops irq_pic = {
	.name = "pic",
	.init = pic_init,
	.unmask = pic_unmask,
	.mask = pic_mask,
	.eoi = pic_eoi,
	.wait = sti_hlt_cli,
};
