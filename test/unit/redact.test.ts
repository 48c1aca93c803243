import { describe, it, expect } from 'vitest';
import { redactText, redactUrl } from '../../src/redact.js';
import { createConsoleLogger } from '../../src/logger.js';

describe('redactUrl', () => {
  it.each([
    'amqp://guest:s3cr3t-pw@rabbit.local:5672/vhost',
    'postgres://app:s3cr3t-pw@db.internal:5432/orders',
    'postgresql://app:s3cr3t-pw@db.internal/orders?sslmode=require',
    'redis://:s3cr3t-pw@cache:6379/0',
  ])('hides the password of %s and keeps the rest', (url) => {
    const redacted = redactUrl(url);
    expect(redacted).not.toContain('s3cr3t-pw');
    expect(redacted).toContain('***');
    expect(new URL(redacted).hostname).toBe(new URL(url).hostname);
    expect(new URL(redacted).username).toBe(new URL(url).username);
  });

  it('hides a password with characters that need encoding', () => {
    const redacted = redactUrl('postgres://app:p%40ss%3Aword@db/x');
    expect(redacted).not.toMatch(/p%40ss|ss%3Aword/);
  });

  it.each(['redis://default:1234/xyzSECRET@cache:6379', 'redis://tokSECRET/abc@cache'])(
    'hides credentials that were not percent-encoded, which parse as a path: %s',
    (url) => {
      const redacted = redactUrl(url);
      expect(redacted).not.toContain('SECRET');
      expect(redacted).toBe(`redis://***@${url.slice(url.lastIndexOf('@') + 1)}`);
    },
  );

  it('hides secret-looking query parameters', () => {
    const redacted = redactUrl('amqps://rabbit/?password=s3cr3t-pw&token=t0k3n&api_key=k3y&heartbeat=30');
    expect(redacted).not.toContain('s3cr3t-pw');
    expect(redacted).not.toContain('t0k3n');
    expect(redacted).not.toContain('k3y');
    expect(redacted).toContain('heartbeat=30');
  });

  it('leaves a URL without credentials unchanged in meaning', () => {
    expect(redactUrl('amqp://rabbit.local:5672/vhost')).toBe('amqp://rabbit.local:5672/vhost');
  });

  it('hides the credentials of something that does not parse as a URL', () => {
    const redacted = redactUrl('amqp://guest:s3cr3t pw@rabbit:port');
    expect(redacted).not.toContain('s3cr3t');
    expect(redacted).toContain('***@');
  });

  it('hides a password with an unencoded slash, which makes the URL unparseable', () => {
    // Generated (base64) passwords often contain '/'; such a URL does not parse, and is exactly
    // the kind that ends up quoted in an error message.
    for (const url of ['amqp://guest:ab/cd+ef@rabbit:5672/vhost', 'postgres://app:Zm9v/YmFy@db:5432/orders']) {
      const redacted = redactUrl(url);
      expect(redacted, redacted).not.toMatch(/ab\/cd|cd\+ef|Zm9v|YmFy/);
      expect(redactText(`cannot connect to ${url}: bad URL`), 'redactText').not.toMatch(/ab\/cd|cd\+ef|Zm9v|YmFy/);
    }
  });
});

describe('redactText', () => {
  it('hides passwords of every URL inside a message', () => {
    const text = `connect ECONNREFUSED to amqp://guest:pw-one@rabbit:5672 and 'postgres://app:pw-two@db/x' failed`;
    const redacted = redactText(text);
    expect(redacted).not.toContain('pw-one');
    expect(redacted).not.toContain('pw-two');
    expect(redacted).toMatch(/^connect ECONNREFUSED to amqp:\/\/guest:\*\*\*@rabbit:5672/);
    expect(redacted).toContain('failed');
  });

  it('leaves text without URLs alone', () => {
    expect(redactText('nothing to hide: a:b@c')).toBe('nothing to hide: a:b@c');
  });
});

describe('createConsoleLogger', () => {
  it('redacts URLs in messages and errors, and drops lines below its level', () => {
    const lines: string[] = [];
    const logger = createConsoleLogger('warn', (line) => lines.push(line));
    logger.info('connecting to amqp://u:hidden-1@h');
    logger.warn('lost amqp://u:hidden-2@h', { error: new Error('via postgres://u:hidden-3@db/x') });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry.level).toBe('warn');
    expect(lines[0]).not.toMatch(/hidden-\d/);
    expect(entry.error).toMatch(/^Error: via postgres:\/\/u:\*\*\*@db/);
  });
});
