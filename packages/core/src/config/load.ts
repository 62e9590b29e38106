/**
 * Loading a config file: YAML or JSON by extension (YAML otherwise, which also reads JSON).
 * @module
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { ConfigError } from '../errors.js';
import type { VmConfig } from './schema.js';
import { validateConfig } from './validate.js';

/** Reads, parses and validates `file`; throws {@link ConfigError} with the file name in the message. */
export function loadConfigFile(file: string): VmConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, expected a YAML or JSON file' : `cannot read (${code ?? String(err)})`;
    throw new ConfigError(`${file}: ${why}`, { file });
  }
  return validateConfig(parseConfigText(text, file), { file });
}

/** Parses YAML or JSON text (by `file`'s extension) without validating it. */
export function parseConfigText(text: string, file = 'config'): unknown {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`, { file });
    }
  }
  // Loaded here, not at import: ~70 CommonJS modules that a JSON config or composing in code never needs.
  const { parse, YAMLParseError } = createRequire(import.meta.url)('yaml') as typeof Yaml;
  try {
    return parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const where = err.linePos?.[0] ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : 'somewhere';
      throw new ConfigError(`${file}: not valid YAML at ${where}: ${err.message.split('\n')[0]}`, { file });
    }
    throw new ConfigError(`${file}: not valid YAML: ${String(err)}`, { file });
  }
}
