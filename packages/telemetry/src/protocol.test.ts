import test from 'ava';
import { ProtocolError, TOPICS, parseClientMessage } from './protocol.js';

const code = (text: string) => {
  try {
    parseClientMessage(text);
    return 'ok';
  } catch (e) {
    return (e as ProtocolError).code;
  }
};

test('a subscribe with known topics parses', (t) => {
  t.deepEqual(parseClientMessage('{"type":"subscribe","id":1,"topics":["exits","events"],"everyMs":500}'),
    { type: 'subscribe', id: 1, topics: ['exits', 'events'], everyMs: 500 });
  t.deepEqual(parseClientMessage('{"type":"subscribe","topics":["*"]}'), { type: 'subscribe', topics: ['*'] });
});

test('every documented topic is accepted', (t) => {
  for (const topic of TOPICS) t.is(code(JSON.stringify({ type: 'subscribe', topics: [topic] })), 'ok');
});

test('bad messages get a code that says what is wrong', (t) => {
  t.is(code('not json'), 'bad-json');
  t.is(code('[1,2]'), 'bad-message');
  t.is(code('{"topics":["exits"]}'), 'bad-message');
  t.is(code('{"type":"launch"}'), 'unknown-type');
  t.is(code('{"type":"subscribe","topics":["exitz"]}'), 'unknown-topic');
  t.is(code('{"type":"subscribe","topics":[]}'), 'bad-message');
  t.is(code('{"type":"control","op":"reboot"}'), 'bad-message');
  t.is(code('{"type":"control","op":"set-interval","intervalMs":1}'), 'bad-interval');
  t.is(code('{"type":"auth"}'), 'bad-message');
  t.is(code(' '.repeat(20000)), 'too-large');
});

test('an error keeps the request id so the client can match it', (t) => {
  const e = t.throws(() => parseClientMessage('{"type":"subscribe","id":"s1","topics":["nope"]}')) as ProtocolError;
  t.is(e.id, 's1');
  t.regex(e.message, /unknown topic "nope"; known: exits, ports/);
});
