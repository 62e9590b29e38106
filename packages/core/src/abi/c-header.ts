#!/usr/bin/env node
/**
 * Generates `hyvisor_abi.h` from {@link ABI_GROUPS}. Run as a program it prints the header
 * (or writes it to the path given as the first argument); guests' Makefiles call it.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ABI_GROUPS } from './guest-abi.js';

/** Turns `BootLayout` + `START_INFO` into `HYV_BOOT_LAYOUT_START_INFO`. */
export function cName(group: string, key: string): string {
  const g = group.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
  return `HYV_${g}_${key}`;
}

/** The C header text. */
export function renderCHeader(): string {
  const lines = [
    '/* hyvisor_abi.h: GENERATED from packages/core/src/abi/guest-abi.ts. Do not edit. */',
    '#ifndef HYVISOR_ABI_H',
    '#define HYVISOR_ABI_H',
    '',
  ];
  for (const [group, consts] of Object.entries(ABI_GROUPS)) {
    lines.push(`/* ${group} */`);
    for (const [key, value] of Object.entries(consts)) {
      lines.push(`#define ${cName(group, key)} 0x${(value as number).toString(16)}u`);
    }
    lines.push('');
  }
  lines.push('#endif /* HYVISOR_ABI_H */', '');
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (out) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, renderCHeader());
  } else {
    process.stdout.write(renderCHeader());
  }
}
