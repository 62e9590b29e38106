/**
 * Code written through another virtual mapping of the same physical page (Linux's `text_poke`
 * patches kernel text through a temporary alias): decoded instructions and interpreted and
 * compiled blocks are invalidated by physical page, so the next pass runs the new bytes,
 * whichever alias wrote them and whichever path (per instruction, blocks, compiled blocks, a
 * compiled block looping on itself) was running the code.
 */
import test from 'ava';
import { CODE, harness, map4k, reg, runToHlt, setRegs, userPaging, type Harness } from './test-support.js';

/** The alias: PML4 slot 1 (512 GiB), mapped to the code's physical page. */
const ALIAS = 0x80_0000_0000;

/**
 * A loop of 200 turns that adds `mov eax, imm32`'s immediate (1 at first) to EDX; in turn 100 it
 * runs `patch`, which must write 2 into that immediate through RDI (the alias of the immediate).
 * EDX ends at 100 × 1 + 100 × 2 = 300 when the patch is seen from the very next turn.
 */
function program(patch: number[]): Uint8Array {
  const head = [
    0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (the immediate at offset 1 is patched)
    0x01, 0xc2, //                   add edx, eax
    0xff, 0xc3, //                   inc ebx
    0x83, 0xfb, 0x64, //             cmp ebx, 100
    0x75, patch.length, //           jne over the patch
  ];
  const tail = [0x81, 0xfb, 0xc8, 0x00, 0x00, 0x00]; // cmp ebx, 200
  const size = head.length + patch.length + tail.length + 2;
  return Uint8Array.from([...head, ...patch, ...tail, 0x75, (-size) & 0xff, 0xf4]); // jne back to the start; hlt
}

const PATCHES: Record<string, number[]> = {
  'mov dword': [0xc7, 0x07, 0x02, 0x00, 0x00, 0x00], //                     mov dword [rdi], 2
  'mov byte': [0xc6, 0x07, 0x02], //                                         mov byte [rdi], 2
  'xchg': [0xb1, 0x02, 0x86, 0x0f], //                                      mov cl, 2; xchg [rdi], cl (locked)
  'rep stosb': [0x57, 0x51, 0xb0, 0x02, 0xb9, 0x01, 0x00, 0x00, 0x00, 0xf3, 0xaa, 0x59, 0x5f], // push rdi; push rcx; mov al, 2; mov ecx, 1; rep stosb; pop rcx; pop rdi
};

function aliased(code: Uint8Array, threshold: number): Harness {
  const h = harness(code);
  userPaging(h);
  map4k(h, ALIAS, CODE, 3n); // present, writable
  h.vcpu.compileThreshold = threshold;
  setRegs(h, { rax: 0n, rbx: 0n, rdx: 0n, rdi: BigInt(ALIAS + 1) });
  return h;
}

for (const [name, patch] of Object.entries(PATCHES)) {
  test(`code patched through an alias mapping (${name}) runs from the next turn on every path`, (t) => {
    const code = program(patch);
    const counts: number[] = [];
    for (const [path, threshold] of [['blocks', Infinity], ['compiled', 64], ['compiled at once', 1]] as const) {
      const h = aliased(code, threshold);
      const v = runToHlt(h);
      t.is(reg(h, 'rdx'), 300n, `${path}: turns after the patch ran the new immediate`);
      t.is(reg(h, 'rbx'), 200n, path);
      t.is(h.mem.read(CODE + 1, 1)![0], 2, path);
      if (threshold !== Infinity) t.true(v.compiledBlockRuns > 0, `${path}: compiled blocks ran`);
      counts.push(v.instructionsRetired);
    }
    // Per instruction, without blocks: the reference count.
    const s = aliased(code, Infinity);
    for (let i = 0; i < 10_000; i++) {
      const e = s.vcpu.singleStep();
      if (e !== null) break;
    }
    t.is(reg(s, 'rdx'), 300n, 'per instruction');
    t.deepEqual(counts, [s.vcpu.instructionsRetired, s.vcpu.instructionsRetired, s.vcpu.instructionsRetired]);
  });
}
