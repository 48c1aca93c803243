import { describe, it, expect } from 'vitest';
import { ErrorCode, ValidationError, type Problem } from '../../src/errors.js';
import { prepareMessages } from '../../src/outbox/validate.js';
import { ContentType } from '../../src/message.js';

const LIMITS = { maxPayloadBytes: 1024 };

/** Runs prepareMessages on input that must be rejected and returns the problems. */
function problemsOf(messages: unknown[], limits = LIMITS): Problem[] {
  try {
    prepareMessages(messages, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe(ErrorCode.Validation);
    return [...(error as ValidationError).problems];
  }
  throw new Error('expected prepareMessages to throw a ValidationError');
}

/** The one problem of a single bad message; fails when there is not exactly one. */
function onlyProblem(message: unknown, limits = LIMITS): Problem {
  const problems = problemsOf([message], limits);
  expect(problems, JSON.stringify(problems)).toHaveLength(1);
  return problems[0]!;
}

const ok = { topic: 'orders.created', payload: { n: 1 } };

describe('prepareMessages: payloads', () => {
  it('rejects a BigInt payload, naming the payload and saying how to fix it', () => {
    const problem = onlyProblem({ topic: 'orders.created', payload: { total: 10n } });
    expect(problem.field).toBe('message.payload');
    expect(problem.message).toMatch(/BigInt/);
  });

  it('rejects a circular payload', () => {
    const payload: Record<string, unknown> = { a: 1 };
    payload.self = payload;
    const problem = onlyProblem({ topic: 'orders.created', payload });
    expect(problem.field).toBe('message.payload');
    expect(problem.message).toMatch(/circular/i);
  });

  it('rejects an undefined or missing payload and suggests null', () => {
    expect(onlyProblem({ topic: 'orders.created', payload: undefined })).toMatchObject({ field: 'message.payload', message: expect.stringMatching(/null/) });
    expect(onlyProblem({ topic: 'orders.created' }).field).toBe('message.payload');
  });

  it('rejects a payload JSON cannot represent (a function)', () => {
    expect(onlyProblem({ topic: 'orders.created', payload: () => 1 }).field).toBe('message.payload');
  });

  it('rejects a payload over maxPayloadBytes, counting serialised bytes', () => {
    const problem = onlyProblem({ topic: 'orders.created', payload: 'x'.repeat(100) }, { maxPayloadBytes: 50 });
    expect(problem.field).toBe('message.payload');
    expect(problem.message).toMatch(/102 bytes/);
    expect(problem.message).toMatch(/maxPayloadBytes/);
    // Multi-byte characters count as their UTF-8 bytes: 20 × 3 bytes + 2 quotes = 62 > 61.
    expect(onlyProblem({ topic: 'a', payload: '€'.repeat(20) }, { maxPayloadBytes: 61 }).field).toBe('message.payload');
    expect(prepareMessages([{ topic: 'a', payload: '€'.repeat(20) }], { maxPayloadBytes: 62 })).toHaveLength(1);
  });

  it('rejects a Buffer payload over maxPayloadBytes', () => {
    expect(onlyProblem({ topic: 'a', payload: Buffer.alloc(51) }, { maxPayloadBytes: 50 }).field).toBe('message.payload');
  });

  it('serialises values to JSON with application/json, null included', () => {
    const [a, b] = prepareMessages([ok, { topic: 'a', payload: null }], LIMITS);
    expect(a!.payload.toString('utf8')).toBe('{"n":1}');
    expect(a!.contentType).toBe(ContentType.Json);
    expect(b!.payload.toString('utf8')).toBe('null');
  });

  it('keeps a Buffer payload byte for byte with application/octet-stream', () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    const [m] = prepareMessages([{ topic: 'blobs.put', payload: bytes }], LIMITS);
    expect(Buffer.compare(m!.payload, bytes)).toBe(0);
    expect(m!.contentType).toBe(ContentType.Bytes);
  });

  it('keeps exactly the viewed bytes of a Uint8Array that is a slice of a larger buffer', () => {
    const whole = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
    const [m] = prepareMessages([{ topic: 'blobs.put', payload: whole.subarray(2, 5) }], LIMITS);
    expect([...m!.payload]).toEqual([1, 2, 3]);
    expect(m!.contentType).toBe(ContentType.Bytes);
  });

  it('uses the caller content type when given', () => {
    const [m] = prepareMessages([{ topic: 'a', payload: Buffer.from('<x/>'), contentType: 'application/xml' }], LIMITS);
    expect(m!.contentType).toBe('application/xml');
  });
});

describe('prepareMessages: topics', () => {
  it.each([
    ['empty', ''],
    ['leading dot', '.orders'],
    ['trailing dot', 'orders.'],
    ['double dot', 'orders..created'],
    ['whitespace', 'orders created'],
    ['not a string', 42],
    ['missing', undefined],
  ])('rejects a %s topic, naming message.topic', (_name, topic) => {
    expect(onlyProblem({ topic, payload: 1 }).field).toBe('message.topic');
  });

  it.each(['orders.*', 'orders.#', 'or*ders'])('rejects the wildcard topic %s (wildcards are for patterns)', (topic) => {
    const problem = onlyProblem({ topic, payload: 1 });
    expect(problem.field).toBe('message.topic');
    expect(problem.message).toMatch(/'\*' or '#'/);
  });
});

describe('prepareMessages: headers', () => {
  it('rejects a non-string header value, naming the header', () => {
    const problem = onlyProblem({ topic: 'a', payload: 1, headers: { tenant: 7 } });
    expect(problem.field).toBe('message.headers.tenant');
    expect(problem.message).toMatch(/String\(value\)/);
  });

  it('names the message index in a batch: messages[1].headers.x', () => {
    const problems = problemsOf([ok, { topic: 'a', payload: 1, headers: { x: null } }]);
    expect(problems.map((p) => p.field)).toEqual(['messages[1].headers.x']);
  });

  it('rejects reserved postbox- header names in any case', () => {
    expect(onlyProblem({ topic: 'a', payload: 1, headers: { 'postbox-message-id': 'x' } }).field).toBe('message.headers.postbox-message-id');
    expect(onlyProblem({ topic: 'a', payload: 1, headers: { 'Postbox-Attempt': '1' } }).message).toMatch(/reserved/);
  });

  it('rejects headers that are not an object', () => {
    expect(onlyProblem({ topic: 'a', payload: 1, headers: ['x'] }).field).toBe('message.headers');
    expect(onlyProblem({ topic: 'a', payload: 1, headers: 'x=1' }).field).toBe('message.headers');
  });

  it('accepts string headers and copies them', () => {
    const headers = { tenant: 't1' };
    const [m] = prepareMessages([{ topic: 'a', payload: 1, headers }], LIMITS);
    expect(m!.headers).toEqual({ tenant: 't1' });
    expect(m!.headers).not.toBe(headers);
  });
});

describe('prepareMessages: other fields', () => {
  it('rejects an unknown message field, naming it and listing the allowed ones', () => {
    const problem = onlyProblem({ topic: 'a', payload: 1, priority: 5 });
    expect(problem.field).toBe('message.priority');
    expect(problem.message).toMatch(/idempotencyKey/);
  });

  it('rejects an id that is not a UUID', () => {
    expect(onlyProblem({ id: 'order-1', topic: 'a', payload: 1 }).field).toBe('message.id');
    expect(onlyProblem({ id: 12, topic: 'a', payload: 1 }).field).toBe('message.id');
  });

  it('rejects two messages of one call with the same id', () => {
    const id = '0190a5c8-0000-7000-8000-000000000001';
    const problems = problemsOf([{ id, topic: 'a', payload: 1 }, { id, topic: 'b', payload: 2 }]);
    expect(problems.map((p) => p.field)).toEqual(['messages[1].id']);
  });

  it('keeps a given id and generates a UUIDv7 otherwise', () => {
    const id = '0190a5c8-0000-7000-8000-000000000001';
    const [given, generated] = prepareMessages([{ id, topic: 'a', payload: 1 }, ok], LIMITS);
    expect(given!.id).toBe(id);
    expect(generated!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it.each([
    ['an invalid Date', { deliverAt: new Date('nope') }, 'message.deliverAt'],
    ['a timestamp number as deliverAt', { deliverAt: Date.now() }, 'message.deliverAt'],
    ['a negative delayMs', { delayMs: -1 }, 'message.delayMs'],
    ['a fractional delayMs', { delayMs: 1.5 }, 'message.delayMs'],
    ['a string delayMs', { delayMs: '100' }, 'message.delayMs'],
    ['an infinite delayMs', { delayMs: Infinity }, 'message.delayMs'],
  ])('rejects %s', (_name, schedule, field) => {
    expect(onlyProblem({ topic: 'a', payload: 1, ...schedule }).field).toBe(field);
  });

  it('rejects deliverAt and delayMs together', () => {
    const problem = onlyProblem({ topic: 'a', payload: 1, deliverAt: new Date(), delayMs: 10 });
    expect(problem.field).toBe('message.deliverAt');
    expect(problem.message).toMatch(/not both/);
  });

  it.each(['key', 'correlationId', 'replyTo', 'idempotencyKey', 'contentType'])('rejects an empty or non-string %s', (field) => {
    expect(onlyProblem({ topic: 'a', payload: 1, [field]: '' }).field).toBe(`message.${field}`);
    expect(onlyProblem({ topic: 'a', payload: 1, [field]: 5 }).field).toBe(`message.${field}`);
  });

  // PostgreSQL text and jsonb cannot hold U+0000: such input must be a ValidationError before any
  // SQL, not a database error that aborts the caller's transaction.
  it.each([
    ['key', { key: 'a\u0000b' }, 'message.key'],
    ['header value', { headers: { tenant: 't\u00001' } }, 'message.headers.tenant'],
  ])('rejects a NUL character in the %s, which PostgreSQL cannot store', (_name, fields, field) => {
    expect(onlyProblem({ topic: 'a', payload: 1, ...fields }).field).toBe(field);
  });

  it('accepts a null key (no ordering)', () => {
    expect(prepareMessages([{ topic: 'a', payload: 1, key: null }], LIMITS)[0]!.key).toBeNull();
  });

  it('rejects a message that is not an object', () => {
    expect(problemsOf(['hello', null]).map((p) => p.field)).toEqual(['messages[0]', 'messages[1]']);
  });
});

describe('prepareMessages: reporting', () => {
  it('reports every problem of every message at once, each naming its field', () => {
    const circular: Record<string, unknown> = {};
    circular.me = circular;
    const error = (() => {
      try {
        prepareMessages(
          [
            ok,
            { topic: 'orders.*', payload: 1n, headers: { x: 1, 'postbox-key': 'k' } },
            { topic: '', payload: circular, delayMs: -5, deliverAt: new Date(), colour: 'red', id: 'nope' },
          ],
          LIMITS,
        );
      } catch (e) {
        return e as ValidationError;
      }
      throw new Error('expected a ValidationError');
    })();
    const fields = error.problems.map((p) => p.field).sort();
    expect(fields).toEqual(
      [
        'messages[1].topic',
        'messages[1].payload',
        'messages[1].headers.x',
        'messages[1].headers.postbox-key',
        'messages[2].topic',
        'messages[2].payload',
        'messages[2].delayMs',
        'messages[2].deliverAt',
        'messages[2].colour',
        'messages[2].id',
      ].sort(),
    );
    // The message lists each problem on its own line, with its field.
    for (const field of fields) expect(error.message).toContain(`${field}:`);
    expect(error.message).toMatch(/10 problems/);
  });

  it('returns one prepared message per input, in order, when all are valid', () => {
    const prepared = prepareMessages(
      [
        { topic: 'a.b', payload: 1, key: 'k1', correlationId: 'c', replyTo: 'r.q', idempotencyKey: 'i', delayMs: 5 },
        { topic: 'c', payload: 'two', deliverAt: new Date(0) },
      ],
      LIMITS,
    );
    expect(prepared.map((m) => m.topic)).toEqual(['a.b', 'c']);
    expect(prepared[0]).toMatchObject({ key: 'k1', correlationId: 'c', replyTo: 'r.q', idempotencyKey: 'i', delayMs: 5, deliverAt: null });
    expect(prepared[1]).toMatchObject({ key: null, correlationId: null, replyTo: null, idempotencyKey: null, delayMs: null, deliverAt: new Date(0) });
  });
});
