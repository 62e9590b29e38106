import test from 'ava';
import { ENTRY, debugged, reg64 } from './test-helpers.js';
import { REGISTERS, targetXml } from './registers.js';

const RIP = 16;
// mov eax, 1; inc eax; inc eax; mov [0x200000], eax; cli; hlt
const CODE = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xff, 0xc0, 0xff, 0xc0, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xfa, 0xf4];
const AFTER_INC = ENTRY + 7, STORE = ENTRY + 9, CLI = ENTRY + 16;

test('a held guest reports SIGTRAP at its entry; g has every register of the description, x87 unavailable', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    t.regex(client.ask('?'), /^T05thread:1;/);
    const g = client.ask('g');
    t.is(g.length, REGISTERS.reduce((n, r) => n + r.bits / 4, 0));
    t.is(reg64(g, RIP), BigInt(ENTRY));
    const st0 = REGISTERS.findIndex((r) => r.name === 'st0');
    t.is(client.ask(`p${st0.toString(16)}`), 'x'.repeat(20));
    t.is(client.ask(`p${RIP.toString(16)}`), g.slice(RIP * 16, RIP * 16 + 16));
    t.is(client.ask('pfff'), 'E01', 'a register that does not exist');
  } finally { vm.dispose(); }
});

test('qSupported, the target description and the thread queries', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    t.regex(client.ask('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386'), /PacketSize=4000;qXfer:features:read\+/);
    let xml = '';
    for (let off = 0; ;) {
      const part = client.ask(`qXfer:features:read:target.xml:${off.toString(16)},200`);
      xml += part.slice(1);
      off += part.length - 1;
      if (part[0] === 'l') break;
      t.is(part[0], 'm');
    }
    t.is(xml, targetXml());
    t.regex(xml, /<architecture>i386:x86-64<\/architecture>/);
    for (const f of ['org.gnu.gdb.i386.core', 'org.gnu.gdb.i386.segments']) t.true(xml.includes(f), f);
    t.is(client.ask('qXfer:features:read:other.xml:0,100'), 'E00');
    t.is(client.ask('qfThreadInfo'), 'm1');
    t.is(client.ask('qsThreadInfo'), 'l');
    t.is(client.ask('qC'), 'QC1');
    t.is(client.ask('vCont?'), 'vCont;c;C;s;S');
    t.is(client.ask('qAttached'), '1');
    t.is(client.ask('vMustReplyEmpty'), '');
  } finally { vm.dispose(); }
});

test('memory reads and writes go through the guest page tables; unmapped memory is E14', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    t.is(client.ask(`m${ENTRY.toString(16)},5`), 'b801000000');
    t.is(client.ask('m7fff00000000,4'), 'E14');
    t.is(client.ask('M200100,4:deadbeef'), 'OK');
    t.is(client.ask('m200100,4'), 'deadbeef');
    t.is(client.ask('X200104,2:#$'), 'OK', 'binary write (the framing escapes # and $)');
    t.is(client.ask('m200104,2'), '2324');
    t.is(client.ask('M7fff00000000,1:00'), 'E14');
  } finally { vm.dispose(); }
});

test('single steps move one instruction at a time; P writes a register the guest then uses', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    t.regex(await client.resume('s'), /^T05/);
    t.is(reg64(client.ask('g'), RIP), BigInt(ENTRY + 5));
    t.is(reg64(client.ask('g'), 0), 1n, 'rax after mov eax, 1');
    t.is(client.ask('P0=2900000000000000'), 'OK'); // rax = 0x29
    t.regex(await client.resume('vCont;s:1'), /^T05/);
    const g = client.ask('g');
    t.is(reg64(g, RIP), BigInt(AFTER_INC));
    t.is(reg64(g, 0), 0x2an);
  } finally { vm.dispose(); }
});

test('a breakpoint stops before its instruction; continue from it moves on; continue to the end is W00', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    client.ask('qSupported:swbreak+');
    t.is(client.ask(`Z0,${CLI.toString(16)},1`), 'OK');
    t.is(await client.resume('c'), 'T05thread:1;swbreak:;');
    t.is(reg64(client.ask('g'), RIP), BigInt(CLI));
    t.is(reg64(client.ask('g'), 0), 3n);
    t.is(await client.resume('c'), 'W00', 'the guest powered off (cli; hlt)');
    t.is((await vm.done).reason, 'poweroff');
  } finally { vm.dispose(); }
});

test('a write watchpoint stops after the store with the watched address', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    t.is(client.ask('Z2,200000,4'), 'OK');
    t.is(await client.resume('c'), 'T05thread:1;watch:200000;');
    t.is(reg64(client.ask('g'), RIP), BigInt(CLI), 'after the store');
    t.is(client.ask('m200000,4'), '03000000');
    t.is(client.ask('z2,200000,4'), 'OK');
  } finally { vm.dispose(); }
});

test('a read watchpoint sees a load; an access watchpoint a store', async (t) => {
  // mov eax, [0x200010]; mov [0x200020], eax; cli; hlt
  const code = [0x8b, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0x89, 0x04, 0x25, 0x20, 0x00, 0x20, 0x00, 0xfa, 0xf4];
  const vm = debugged(code);
  try {
    const { client } = vm;
    t.is(client.ask('Z3,200010,4'), 'OK');
    t.is(client.ask('Z4,200020,4'), 'OK');
    t.is(await client.resume('c'), 'T05thread:1;rwatch:200010;');
    t.is(reg64(client.ask('g'), RIP), BigInt(ENTRY + 7));
    t.is(await client.resume('c'), 'T05thread:1;awatch:200020;');
    t.is(reg64(client.ask('g'), RIP), BigInt(ENTRY + 14));
  } finally { vm.dispose(); }
});

test('Ctrl-C stops a guest that loops forever with SIGINT', async (t) => {
  const vm = debugged([0xeb, 0xfe]); // jmp $
  try {
    const { client } = vm;
    client.send('c');
    await new Promise((r) => setTimeout(r, 20));
    t.is(client.replies.length, 0, 'still running');
    client.session.receive(Uint8Array.of(0x03));
    t.is(await client.next(0), 'T02thread:1;');
    t.is(reg64(client.ask('g'), RIP), BigInt(ENTRY));
    t.is(vm.machine.state, 'paused');
  } finally { vm.dispose(); }
});

test('detach removes the breakpoints and lets the guest run to its end', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    client.ask(`Z0,${CLI.toString(16)},1`);
    t.is(client.ask('D'), 'OK');
    t.true(client.closed);
    t.is((await vm.done).reason, 'poweroff');
  } finally { vm.dispose(); }
});

test('kill ends the run', async (t) => {
  const vm = debugged([0xeb, 0xfe]);
  try {
    vm.client.send('k');
    t.true(vm.client.closed);
    const r = await vm.done;
    t.is(r.reason, 'stopped');
  } finally { vm.dispose(); }
});

test('malformed packets get E01 or the empty reply, and the session goes on', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    const bad = ['m', 'mzz,4', 'm100000', 'm1,zz', 'M100000,4:zz', 'M100000,2:00', 'X100000,4:ab', 'G12', 'P', 'P10=12', 'Pfff=00',
      'Z9,0,1', 'Z0,zz,1', 'z0', 'qXfer:features:read:target.xml:zz', 'vCont;q', 'vCont;s:2', 'T7', 'c zz', 'sfoo', 'qRcmd,zz'];
    for (const p of bad) {
      const r = client.ask(p);
      t.true(r === '' || /^E[0-9a-f]{2}$/.test(r), `${p} → ${r}`);
    }
    for (const p of ['', 'j', '\u00ff\u00fe', 'vFoo', 'qFoo', 'QFoo']) t.is(client.ask(p), '', `unknown packet ${JSON.stringify(p)}`);
    t.regex(client.ask('?'), /^T05/);
    t.is(reg64(client.ask('g'), RIP), BigInt(ENTRY), 'nothing changed');
  } finally { vm.dispose(); }
});

test('acks: a valid packet is acknowledged with +, a bad checksum with -; a - resends the last reply', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    client.session.receive(Buffer.from('$?#00'));
    t.is(client.raw.at(-1), '-');
    client.send('qC');
    t.deepEqual(client.raw.slice(-2), ['+', '$QC1#c5']);
    client.session.receive(Buffer.from('-'));
    t.is(client.raw.at(-1), '$QC1#c5');
    t.is(client.ask('QStartNoAckMode'), 'OK');
    await new Promise((r) => setImmediate(r));
    const n = client.raw.length;
    client.send('qC');
    t.is(client.raw.length, n + 1, 'no + in no-ack mode');
  } finally { vm.dispose(); }
});

test('with a token, the session shows no process until monitor auth, then attach stops the guest', async (t) => {
  const vm = debugged(CODE, { token: (x) => x === 'secret-token' });
  try {
    const { client } = vm;
    const hex = (s: string) => Buffer.from(s).toString('hex');
    t.is(client.ask('?'), 'W00');
    t.is(client.ask('g'), 'E01');
    t.is(client.ask(`m${ENTRY.toString(16)},4`), 'E01');
    t.is(client.ask('vAttach;1'), 'E01');
    t.is(client.ask(`qRcmd,${hex('auth wrong-token')}`), 'E01');
    t.not(client.ask(`qRcmd,${hex('auth secret-token')}`)[0], 'E');
    t.regex(client.ask('vAttach;1'), /^T05/);
    t.is(reg64(client.ask('g'), RIP), BigInt(ENTRY));
  } finally { vm.dispose(); }
});

test('random packets from the protocol alphabet never throw and the session answers afterwards', async (t) => {
  const vm = debugged(CODE);
  try {
    const { client } = vm;
    let seed = 0x5eed;
    const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
    // Everything but the packets that end or resume the session (tested on their own above).
    const heads = ['?', 'g', 'G', 'p', 'P', 'm', 'M', 'X', 'Z', 'z', 'H', 'T', 'q', 'Q', 'v', 'qXfer:features:read:', 'qRcmd,', 'Z0,', 'Z2,', 'vCont?', 'x', '!'];
    const alphabet = '0123456789abcdefxXZ,:;=#$}*\u0000\u00ff-+';
    for (let i = 0; i < 2000; i++) {
      let p = heads[rand(heads.length)]!;
      const n = rand(40);
      for (let j = 0; j < n; j++) p += alphabet[rand(alphabet.length)];
      const before = client.replies.length;
      t.notThrows(() => client.send(p), p);
      t.is(client.replies.length, before + 1, `one reply to ${JSON.stringify(p)}`);
    }
    t.is(client.ask('qC'), 'QC1');
    t.is(vm.machine.state, 'paused', 'the guest never ran: no packet above resumes it');
  } finally { vm.dispose(); }
});
