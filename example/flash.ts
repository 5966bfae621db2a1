/**
 * One message carried across a redirect (post/redirect/get): a form's POST answers 303 with the
 * outcome in a short-lived cookie, and the page it redirects to shows it once. Reloading that page
 * then posts nothing again and shows nothing stale.
 */
import type { Request, Response } from 'express';

export interface Flash {
  kind: 'done' | 'error';
  text: string;
  /** The form field it is about (`picture`, `name`): the page shows it next to that form. */
  field?: string;
}

const COOKIE = 'flash';

export function setFlash(res: Response, flash: Flash): void {
  res.cookie(COOKIE, JSON.stringify(flash), { httpOnly: true, sameSite: 'lax', maxAge: 60_000, path: '/' });
}

/** The message set by the previous response, if any; it is cleared, so it shows once. */
export function takeFlash(req: Request, res: Response): Flash | undefined {
  const raw = /(?:^|;\s*)flash=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
  if (raw === undefined) return undefined;
  res.clearCookie(COOKIE, { path: '/' });
  try {
    const flash = JSON.parse(decodeURIComponent(raw)) as Flash;
    // Only what setFlash writes: a cookie is the visitor's to edit, and EJS escapes the text anyway.
    if ((flash.kind === 'done' || flash.kind === 'error') && typeof flash.text === 'string') return flash;
  } catch {
    // A mangled cookie: show nothing.
  }
  return undefined;
}
