import test from 'ava';
import { PostCode } from './post-code.js';

test('port 0x80 keeps the last code (low byte), counts writes and reads 0xff', (t) => {
  const seen: number[] = [];
  const post = new PostCode((c) => seen.push(c));
  t.is(post.last, -1);
  post.write(0, 1, 0x55);
  post.write(0, 2, 0x1234);
  t.is(post.last, 0x34);
  t.is(post.writes, 2);
  t.deepEqual(seen, [0x55, 0x34]);
  t.is(post.read(0, 1), 0xff);
});
