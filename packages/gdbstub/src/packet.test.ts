import test from 'ava';
import { MAX_PACKET, PacketReader, checksum, encodePacket, fromHex, unescapeBinary, type Incoming } from './packet.js';

function read(text: string | Uint8Array): Incoming[] {
  const out: Incoming[] = [];
  new PacketReader().feed(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, (e) => out.push(e));
  return out;
}

test('the checksum is the byte sum modulo 256 in two hex digits', (t) => {
  t.is(checksum(''), '00');
  t.is(checksum('OK'), '9a');
  t.is(checksum('qSupported'), '37');
  t.is(checksum('\xff\xff'), 'fe');
});

test('a framed packet reads back as its payload', (t) => {
  t.deepEqual(read(encodePacket('m100000,4')), [{ kind: 'packet', payload: 'm100000,4' }]);
  t.deepEqual(read('$OK#9A'), [{ kind: 'packet', payload: 'OK' }], 'upper-case checksum digits');
});

test('a wrong checksum, a non-hex checksum and an over-long packet are refused, and reading goes on', (t) => {
  t.deepEqual(read('$OK#9b$OK#9a'), [{ kind: 'bad' }, { kind: 'packet', payload: 'OK' }]);
  t.deepEqual(read('$OK#zz$OK#9a'), [{ kind: 'bad' }, { kind: 'packet', payload: 'OK' }]);
  const long = `$${'a'.repeat(MAX_PACKET + 10)}#00`;
  t.deepEqual(read(`${long}$OK#9a`), [{ kind: 'bad' }, { kind: 'packet', payload: 'OK' }]);
});

test('acks, the interrupt byte and noise between packets', (t) => {
  t.deepEqual(read('+-\x03garbage$?#3f'), [
    { kind: 'ack', ok: true }, { kind: 'ack', ok: false }, { kind: 'interrupt' }, { kind: 'packet', payload: '?' },
  ]);
});

test('a packet split across reads is put together', (t) => {
  const r = new PacketReader();
  const out: Incoming[] = [];
  for (const ch of '$g#67') r.feed(Buffer.from(ch), (e) => out.push(e));
  t.deepEqual(out, [{ kind: 'packet', payload: 'g' }]);
});

test('binary data escapes $, #, } and * and unescapes to the same bytes', (t) => {
  const raw = String.fromCharCode(0x24, 0x23, 0x7d, 0x2a, 0x00, 0xff);
  const framed = encodePacket(raw);
  t.is(framed.indexOf('$', 1), -1);
  const back = read(framed);
  t.is(back[0]?.kind, 'packet');
  const payload = (back[0] as { payload: string }).payload;
  t.deepEqual([...unescapeBinary(payload)], [0x24, 0x23, 0x7d, 0x2a, 0x00, 0xff]);
  t.deepEqual([...unescapeBinary('ab}')], [0x61, 0x62], 'a lone trailing escape is dropped');
});

test('hex parsing refuses odd lengths and non-hex digits', (t) => {
  t.deepEqual(fromHex('00ff10') && [...fromHex('00ff10')!], [0, 255, 16]);
  t.is(fromHex('abc'), undefined);
  t.is(fromHex('zz'), undefined);
});

test('random bytes never make the reader throw', (t) => {
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 24; };
  const r = new PacketReader();
  let events = 0;
  for (let i = 0; i < 200; i++) {
    const chunk = new Uint8Array(1 + (rand() % 64)).map(() => { const b = rand(); return b < 16 ? 0x24 : b < 24 ? 0x23 : b; });
    t.notThrows(() => r.feed(chunk, () => { events++; }));
  }
  t.true(events > 0);
});
