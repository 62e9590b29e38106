import test from 'ava';
import {
  CREATED, RunStateError, RunStates, disposed, ended, kernelLoaded, paused, resumed, started, stopRequested,
  type RunState, type StopInfo,
} from './run-state.js';

const HALT: StopInfo = { reason: 'poweroff', exitCode: 0, message: '' };
const CTRL_C: StopInfo = { reason: 'stopped', exitCode: 130, message: 'interrupted' };
const CRASH: StopInfo = { reason: 'error', exitCode: 1, message: 'boom' };

const loaded = kernelLoaded(CREATED);
const running = started(loaded);

test('a machine goes created → (kernel) → running → paused → running → stopping → stopped → disposed', (t) => {
  const trail: RunState[] = [CREATED];
  const step = (f: (s: RunState) => RunState): void => { trail.push(f(trail[trail.length - 1]!)); };
  step(kernelLoaded);
  step(started);
  step(paused);
  step(resumed);
  step((s) => stopRequested(s, HALT));
  step((s) => ended(s, CRASH));
  step(disposed);
  t.deepEqual(trail.map((s) => s.kind), ['created', 'created', 'running', 'paused', 'running', 'stopping', 'stopped', 'disposed']);
  t.deepEqual(trail[6], { kind: 'stopped', stop: HALT }, 'the stop requested is the one the run ends with, not the fallback');
});

test('a run needs a kernel, and a machine runs once', (t) => {
  const e = t.throws(() => started(CREATED), { instanceOf: RunStateError, message: /no guest kernel loaded/ });
  t.is(e!.from, 'created');
  for (const s of [running, paused(running), stopRequested(running, HALT), ended(stopRequested(running, HALT), CRASH)]) {
    t.throws(() => started(s), { instanceOf: RunStateError, message: new RegExp(`^machine cannot run: it is ${s.kind} \\(run needs a machine that is created`) });
  }
});

test('a kernel is loaded only before the first run', (t) => {
  t.is(kernelLoaded(loaded), loaded, 'loading again before the run is fine');
  const e = t.throws(() => kernelLoaded(running), { instanceOf: RunStateError });
  t.is(e!.message, 'machine cannot load a kernel: it is running (load a kernel needs a machine that is created (not yet run))');
  t.is(e!.transition, 'load a kernel');
});

test('pause needs running and resume needs paused', (t) => {
  t.throws(() => paused(loaded), { instanceOf: RunStateError, message: /cannot pause: it is created/ });
  t.throws(() => paused(paused(running)), { instanceOf: RunStateError, message: /cannot pause: it is paused/ });
  t.throws(() => resumed(running), { instanceOf: RunStateError, message: /cannot resume: it is running \(resume needs a machine that is paused\)/ });
  t.throws(() => paused(stopRequested(running, HALT)), { instanceOf: RunStateError, message: /cannot pause: it is stopping/ });
});

test('the first stop request wins', (t) => {
  const stopping = stopRequested(running, HALT);
  t.is(stopRequested(stopping, CTRL_C), stopping);
  const stopped = ended(stopping, CRASH);
  t.is(stopRequested(stopped, CTRL_C), stopped);
  t.deepEqual(stopRequested(paused(running), CTRL_C), { kind: 'stopping', stop: CTRL_C }, 'a paused machine can be stopped');
});

test('a machine stopped before it ran is stopped at once', (t) => {
  t.deepEqual(stopRequested(loaded, CTRL_C), { kind: 'stopped', stop: CTRL_C });
});

test('a loop that ended by an exception stops with the fallback; ending twice is refused', (t) => {
  t.deepEqual(ended(running, CRASH), { kind: 'stopped', stop: CRASH });
  t.throws(() => ended(ended(running, CRASH), CRASH), { instanceOf: RunStateError, message: /cannot end its run: it is stopped/ });
  t.throws(() => ended(loaded, CRASH), { instanceOf: RunStateError, message: /cannot end its run: it is created/ });
});

test('a disposed machine refuses every transition', (t) => {
  const gone = disposed(running);
  for (const f of [kernelLoaded, started, paused, resumed, disposed, (s: RunState) => stopRequested(s, HALT), (s: RunState) => ended(s, HALT)]) {
    t.throws(() => f(gone), { instanceOf: RunStateError, message: /it is disposed/ });
  }
});

test('RunStates publishes each new state once, in order, and completes on dispose', (t) => {
  const states = new RunStates();
  const seen: string[] = [];
  let completed = false;
  states.changes.subscribe({ next: (s) => seen.push(s.kind), complete: () => { completed = true; } });
  states.apply(kernelLoaded);
  states.apply(kernelLoaded); // no change: not published again
  states.apply(started);
  states.apply((s) => stopRequested(s, HALT));
  states.apply((s) => stopRequested(s, CTRL_C)); // ignored
  states.apply((s) => ended(s, CRASH));
  states.apply(disposed);
  t.deepEqual(seen, ['created', 'created', 'running', 'stopping', 'stopped', 'disposed']);
  t.true(completed);
  t.is(states.current.kind, 'disposed');
});

test('a refused transition leaves the state and publishes nothing', (t) => {
  const states = new RunStates();
  const seen: string[] = [];
  states.changes.subscribe((s) => seen.push(s.kind));
  t.throws(() => states.apply(resumed), { instanceOf: RunStateError });
  t.is(states.current, CREATED);
  t.deepEqual(seen, ['created']);
});

test('whilePaused resolves when the machine resumes or stops', async (t) => {
  const states = new RunStates();
  states.apply(kernelLoaded);
  states.apply(started);
  await states.whilePaused(); // not paused: at once
  states.apply(paused);
  let woke = false;
  const waiting = states.whilePaused().then(() => { woke = true; });
  await Promise.resolve();
  t.false(woke, 'still paused');
  states.apply((s) => stopRequested(s, CTRL_C));
  await waiting;
  t.true(woke);
});
