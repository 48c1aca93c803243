/**
 * Finding the field of a value that JSON cannot carry, for errors that name it: job data that
 * JSON.stringify throws on (a BigInt, a cycle), and job options that a JSON round trip would change.
 */
import type { Problem } from '../../src/errors.js';

/**
 * Why JSON.stringify threw on `value`, as a problem naming the field (`path` and below): it walks
 * the value as JSON.stringify does (toJSON first; functions, symbols and undefined skipped).
 */
export function stringifyFailure(value: unknown, path: string, thrown: unknown): Problem {
  return (
    findUnserialisable('', value, path, []) ?? {
      field: path,
      message: `cannot be serialised to JSON (${thrown instanceof Error ? thrown.message : String(thrown)}); pass a JSON-serialisable value`,
    }
  );
}

function findUnserialisable(key: string, input: unknown, path: string, stack: object[]): Problem | undefined {
  let value = input;
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, key);
  }
  if (typeof value === 'bigint') {
    return { field: path, message: `is a BigInt (${value}n), which JSON cannot represent (BullMQ would throw too); convert it to a string or a number` };
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (stack.includes(value)) {
    return { field: path, message: 'refers back to an object that contains it (a cycle), which JSON cannot represent; remove the reference' };
  }
  stack.push(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = findUnserialisable(String(i), value[i], `${path}[${i}]`, stack);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    for (const name of Object.keys(value)) {
      const found = findUnserialisable(name, (value as Record<string, unknown>)[name], fieldPath(path, name), stack);
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    stack.pop();
  }
}

/**
 * The first field of `value` that a JSON round trip would not give back as it is, or undefined:
 * only null, booleans, strings, finite numbers, arrays and plain objects are kept exactly
 * (an object property that is undefined is left out, as JSON and BullMQ do).
 */
export function inexactJson(value: unknown, path: string, stack: object[] = []): Problem | undefined {
  const refuse = (what: string): Problem => ({ field: path, message: `is ${what}, which JSON cannot carry to the relay exactly; use plain JSON values` });
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : refuse(String(value));
    case 'bigint':
      return refuse(`a BigInt (${value}n)`);
    case 'function':
      return refuse('a function');
    case 'symbol':
      return refuse('a symbol');
    case 'undefined':
      return refuse('undefined');
  }
  if (value === null) return undefined;
  const object = value as object;
  if (stack.includes(object)) return refuse('a reference to an object that contains it (a cycle)');
  const proto: unknown = Object.getPrototypeOf(object);
  if (!Array.isArray(object) && proto !== Object.prototype && proto !== null) {
    return refuse(`an instance of ${(object.constructor as { name?: string } | undefined)?.name ?? 'a class'}`);
  }
  stack.push(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = inexactJson(object[i], `${path}[${i}]`, stack);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    for (const [name, item] of Object.entries(object)) {
      if (item === undefined) continue;
      const found = inexactJson(item, fieldPath(path, name), stack);
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    stack.pop();
  }
}

function fieldPath(path: string, name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}
