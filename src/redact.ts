/** Replaces the password (or a user given without one: a token) in a URL with ***, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    else if (parsed.username) parsed.username = '***'; // a user without a password is usually a token
    for (const name of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    // Not a parseable URL: hide everything between '//' and the last '@' (passwords may hold '/', ' ' or '@').
    return url.replace(/\/\/.*@/, '//***@');
  }
}

/** Redacts every URL-looking substring of a message (error messages sometimes embed them). */
export function redactText(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (url) => redactUrl(url));
}
