/**
 * Reads the files the configuration names: the config file (--config, POSTBOX_CONFIG, else
 * ./postbox.config.json|.js|.mjs|.ts) and the policies file (--policies, else POSTBOX_POLICIES).
 * JSON is parsed; .js/.mjs/.cjs are imported (a default export: an object, or a function
 * returning one); .ts is imported by Node if it can, else through tsx when it is installed.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Problem } from '../../errors.js';
import type { Env, Flags } from './layers.js';
import type { LoadedFile } from './types.js';

export const CONFIG_FILE_NAMES = ['postbox.config.json', 'postbox.config.js', 'postbox.config.mjs', 'postbox.config.ts'] as const;

export interface LoadedInputs {
  readonly file?: LoadedFile;
  readonly policies?: { readonly data: unknown; readonly label: string };
  /** Files named but not readable (missing, not JSON, a module that throws...). */
  readonly problems: Problem[];
}

/** Reads the config and policies files; what cannot be read is reported in `problems`, to be listed with the others. */
export async function loadInputs(flags: Flags, env: Env, cwd: string = process.cwd()): Promise<LoadedInputs> {
  const problems: Problem[] = [];
  let file: LoadedFile | undefined;
  const configPath = findConfigFile(flags, env, cwd, problems);
  if (configPath !== undefined) {
    const data = await loadData(configPath.path, cwd, configPath.field, problems);
    if (data !== NOTHING) file = { path: displayPath(configPath.path, cwd), data };
  }
  let policies: LoadedInputs['policies'];
  const policiesPath = typeof flags.policies === 'string' ? { path: flags.policies, field: '--policies' } : nonEmpty(env.POSTBOX_POLICIES) ? { path: env.POSTBOX_POLICIES as string, field: 'POSTBOX_POLICIES' } : undefined;
  if (policiesPath !== undefined) {
    const path = resolve(cwd, policiesPath.path);
    const data = await loadData(path, cwd, policiesPath.field, problems);
    if (data !== NOTHING) policies = { data, label: `in ${displayPath(path, cwd)}, from ${policiesPath.field}` };
  }
  return { ...(file && { file }), ...(policies && { policies }), problems };
}

function findConfigFile(flags: Flags, env: Env, cwd: string, problems: Problem[]): { path: string; field: string } | undefined {
  const explicit = typeof flags.config === 'string' ? { path: flags.config, field: '--config' } : nonEmpty(env.POSTBOX_CONFIG) ? { path: env.POSTBOX_CONFIG as string, field: 'POSTBOX_CONFIG' } : undefined;
  if (explicit !== undefined) return { path: resolve(cwd, explicit.path), field: explicit.field };
  const present = CONFIG_FILE_NAMES.filter((name) => existsSync(resolve(cwd, name)));
  if (present.length > 1) {
    problems.push({ field: '(config file)', message: `${present.join(' and ')} are all in ${cwd}; keep one, or pick one with --config` });
    return undefined;
  }
  return present[0] === undefined ? undefined : { path: resolve(cwd, present[0]), field: '(config file)' };
}

const NOTHING = Symbol('nothing');

async function loadData(path: string, cwd: string, field: string, problems: Problem[]): Promise<unknown> {
  const shown = displayPath(path, cwd);
  const fail = (message: string): typeof NOTHING => {
    problems.push({ field, message });
    return NOTHING;
  };
  if (!existsSync(path)) return fail(`names ${shown}, which does not exist`);
  const extension = extname(path);
  if (extension === '.json') {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      return fail(`cannot read ${shown}: ${(error as Error).message}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      return fail(`${shown} is not valid JSON: ${jsonSyntaxError((error as Error).message, text)}`);
    }
  }
  if (!['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'].includes(extension)) {
    return fail(`${shown}: use a .json, .js, .mjs or .ts file`);
  }
  let module: Record<string, unknown>;
  try {
    module = extension.endsWith('ts') ? await importTypeScript(path, cwd) : await import(pathToFileURL(path).href);
  } catch (error) {
    return fail(`cannot load ${shown}: ${(error as Error).message}`);
  }
  if (!('default' in module)) return fail(`${shown} must export the configuration as its default export: export default { database: { ... } }`);
  let value = unwrapDefault(module.default);
  try {
    if (typeof value === 'function') value = await (value as () => unknown)();
  } catch (error) {
    return fail(`the function exported by ${shown} threw: ${(error as Error).message}`);
  }
  return value;
}

/** Node 20 cannot import .ts by itself: then tsx's tsImport() is used, if tsx can be found. */
async function importTypeScript(path: string, cwd: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  try {
    return await import(url);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
  }
  const tsx = await loadTsx(cwd);
  if (tsx === undefined) {
    throw new Error('Node cannot import TypeScript by itself; rename it to postbox.config.mjs (plain JavaScript), install tsx (npm install --save-dev tsx), or run node with a TypeScript loader (node --import tsx)');
  }
  return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
}

type TsImport = (specifier: string, parent: string) => Promise<unknown>;

async function loadTsx(cwd: string): Promise<{ tsImport: TsImport } | undefined> {
  const specifier = 'tsx/esm/api';
  try {
    return (await import(specifier)) as { tsImport: TsImport };
  } catch {
    // Not next to postbox: try the project's own node_modules.
  }
  try {
    const resolved = createRequire(resolve(cwd, 'package.json')).resolve(specifier);
    return (await import(pathToFileURL(resolved).href)) as { tsImport: TsImport };
  } catch {
    return undefined;
  }
}

/** A CommonJS module (or a .ts file compiled to one) may wrap the default export once more. */
function unwrapDefault(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 1 && 'default' in value) return (value as { default: unknown }).default;
  return value;
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}

function displayPath(path: string, cwd: string): string {
  const shown = relative(cwd, path);
  return shown === '' || shown.startsWith('..') || isAbsolute(shown) ? path : shown;
}

/**
 * V8 quotes up to 10 characters of the file on each side of an unexpected token
 * (`Unexpected token ''', ..."password": 'hunter2"... is not valid JSON`): the text around a
 * password written in single quotes or without quotes. Keep the token, give the line instead.
 */
export function jsonSyntaxError(message: string, text: string): string {
  const quoted = /^(?:(.+?), )?(\.\.\.)?"([\s\S]*)"(?:\.\.\.)? is not valid JSON$/.exec(message);
  if (quoted === null) return message; // the other messages give a position, not the text
  const [, token = 'not a JSON document', cut, excerpt] = quoted as unknown as [string, string | undefined, string | undefined, string];
  const start = text.indexOf(excerpt);
  const at = start < 0 ? -1 : cut !== undefined ? start + 10 : start;
  const line = at < 0 ? '' : ` on line ${text.slice(0, at).split('\n').length}`;
  return `${token}${line} (strings, passwords included, must be in double quotes)`;
}
