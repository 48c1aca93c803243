/** Replaces the password (or a user given without one: a token) in a URL with ***, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // 'amqp:guest:secret@host' parses, but as a path: no host, no credentials to mask.
    if (parsed.host === '' && url.includes('@')) return maskBeforeAt(url);
    // 'redis://user:pa/ss@host' parses with host 'user' and the secret in the path: an '@' after
    // the authority means the credentials were not percent-encoded.
    if (!parsed.username && !parsed.password && url.includes('@')) return maskBeforeAt(url);
    if (parsed.password) parsed.password = '***';
    else if (parsed.username) parsed.username = '***'; // a user without a password is usually a token
    for (const name of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    return maskBeforeAt(url);
  }
}

/** Hides everything between the scheme (if any) and the last '@': passwords may hold '/', ' ' or '@'. */
function maskBeforeAt(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(/^([a-z][a-z0-9+.-]*:(?:\/\/?)?)?.*@/i, (_match, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

/** Redacts every URL-looking substring of a message (error messages sometimes embed them). */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (url) => redactUrl(url));
}
