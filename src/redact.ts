/** Replaces the password (and a token-like user) in a URL with ***, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    // Not a parseable URL: hide anything between '//' and '@'.
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** Redacts every URL-looking substring of a message (error messages sometimes embed them). */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (url) => redactUrl(url));
}
