import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ABI_GROUPS, BootLayout, Ports } from './guest-abi.js';
import { cName, renderCHeader } from './c-header.js';

function hasGcc(): boolean {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('cName turns a group and key into a HYV_ macro name', (t) => {
  t.is(cName('BootLayout', 'START_INFO'), 'HYV_BOOT_LAYOUT_START_INFO');
  t.is(cName('Ports', 'COM1'), 'HYV_PORTS_COM1');
  t.is(cName('FeatureBits', 'PV_MMU'), 'HYV_FEATURE_BITS_PV_MMU');
});

test('the header defines every ABI constant with its value', (t) => {
  const header = renderCHeader();
  let n = 0;
  for (const [group, consts] of Object.entries(ABI_GROUPS)) {
    for (const [key, value] of Object.entries(consts)) {
      const m = new RegExp(`^#define ${cName(group, key)} (0x[0-9a-f]+)u$`, 'm').exec(header);
      t.truthy(m, `${group}.${key} is missing`);
      t.is(Number(m?.[1]), value as number, `${group}.${key}`);
      n++;
    }
  }
  t.true(n > 40);
});

test('every macro name in the header is unique', (t) => {
  const names = [...renderCHeader().matchAll(/^#define (\w+)/gm)].map((m) => m[1]);
  t.is(new Set(names).size, names.length);
});

const gccTest = hasGcc() ? test : test.skip;

gccTest('the header compiles with gcc and its values hold in C (needs gcc)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-abi-'));
  fs.writeFileSync(path.join(dir, 'hyvisor_abi.h'), renderCHeader());
  const c = [
    '#include "hyvisor_abi.h"',
    '#include "hyvisor_abi.h" /* include guard */',
    `_Static_assert(HYV_PORTS_COM1 == ${Ports.COM1}, "COM1");`,
    `_Static_assert(HYV_PORTS_DEBUG_EXIT == 0xf4, "debug exit");`,
    `_Static_assert(HYV_BOOT_LAYOUT_PML4 == ${BootLayout.PML4}, "PML4");`,
    '_Static_assert(HYV_START_INFO_MAGIC == 0x336ec578u, "PVH magic");',
    '_Static_assert(HYV_CPUID_LEAF_SIGNATURE == 0x40000000u, "leaf");',
    '_Static_assert(sizeof(HYV_CPUID_LEAF_FEATURES) == 4, "unsigned int");',
    '',
  ].join('\n');
  const file = path.join(dir, 'check.c');
  fs.writeFileSync(file, c);
  t.notThrows(() => execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-fsyntax-only', file], { cwd: dir, stdio: 'pipe' }));
});
