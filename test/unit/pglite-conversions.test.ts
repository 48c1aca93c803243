import { describe, expect, it } from 'vitest';
import { PG_PARSERS, PG_SERIALIZERS, parseArray, toPgText } from '../../adapters/pglite/conversions.js';

describe('PGlite pool: parameters as pg sends them', () => {
  it('converts by JS value: bytes as bytea hex, dates as ISO, objects as JSON, arrays as array literals', () => {
    expect(toPgText(Buffer.from([0, 255]))).toBe('\\x00ff');
    expect(toPgText(new Uint8Array([1, 2]).subarray(1))).toBe('\\x02');
    expect(toPgText(new Date('2024-05-01T12:00:00.123Z'))).toBe('2024-05-01T12:00:00.123Z');
    expect(toPgText({ a: 1 })).toBe('{"a":1}');
    expect(toPgText(12n)).toBe('12');
    expect(toPgText(true)).toBe('true');
    expect(toPgText([1, null, 'a"b', 'c\\d', [2, 3], { k: 'v' }, Buffer.from([9])])).toBe(
      '{"1",NULL,"a\\"b","c\\\\d",{"2","3"},"{\\"k\\":\\"v\\"}","\\\\x09"}',
    );
    expect(toPgText({ toPostgres: () => 'custom' })).toBe('custom');
  });

  it('applies to every parameter type', () => {
    expect(PG_SERIALIZERS[17]).toBe(toPgText);
    expect(PG_SERIALIZERS[3807]).toBe(toPgText);
  });
});

describe('PGlite pool: results as pg returns them', () => {
  it('parses array literals: quotes, escapes, NULL, nesting, dimension decoration', () => {
    const same = (text: string): string => text;
    expect(parseArray('{}', same)).toEqual([]);
    expect(parseArray('{1,NULL,"NULL","a,b","c\\"d","e\\\\f"}', same)).toEqual(['1', null, 'NULL', 'a,b', 'c"d', 'e\\f']);
    expect(parseArray('{{1,2},{3,4}}', same)).toEqual([['1', '2'], ['3', '4']]);
    expect(parseArray('[0:1]={5,6}', same)).toEqual(['5', '6']);
  });

  it('keeps int8 as a string and makes bytea a Buffer (hex and escape output)', () => {
    expect(PG_PARSERS[20]!('9007199254740993', 20)).toBe('9007199254740993');
    expect(PG_PARSERS[17]!('\\x00ff', 17)).toEqual(Buffer.from([0, 255]));
    expect(PG_PARSERS[17]!('a\\000\\\\', 17)).toEqual(Buffer.from([97, 0, 92]));
    expect(PG_PARSERS[1016]!('{1,NULL}', 1016)).toEqual(['1', null]);
    expect(PG_PARSERS[1001]!('{"\\\\x01"}', 1001)).toEqual([Buffer.from([1])]);
  });
});
