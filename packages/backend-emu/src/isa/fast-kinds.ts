/**
 * The specialised handlers (execute/fast.ts) as numbers, for the opcode table's `fast` column.
 * Their semantics live in `executeFast` and the block compiler; which decoded forms get one is
 * derived from the table (isa/derive.ts).
 * @module
 */

export const F_NONE = 0;
export const F_MOV_RR = 1, F_MOV_LOAD = 2, F_MOV_STORE = 3, F_ALU_RR = 4, F_ALU_RM = 5, F_ALU_MR = 6, F_ALU_RI = 7, F_ALU_MI = 8,
  F_SHIFT_RI = 9, F_JCC = 10, F_JMP = 11, F_MOVZX8_R = 12, F_MOVZX8_M = 13, F_LEA = 14, F_MOV_RI = 15, F_PUSH = 16,
  F_POP = 17, F_CALL = 18, F_RET = 19, F_NOP = 20, F_TEST_RR = 21, F_MOVZX16_R = 22, F_MOVZX16_M = 23, F_MOVSXD_R = 24,
  F_MOVSXD_M = 25;
/** One more than the largest kind (array sizes). */
export const F_COUNT = 26;
