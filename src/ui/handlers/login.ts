// /ui/login: where the browser is asked for a token (basic auth: any user name, the token as
// password), then sent on to the packages.
import { UnauthorizedError } from '../../errors.js';
import type { UiHandler } from './ui-context.js';

export const login: UiHandler = (c) => {
  if (c.get('viewer').token === undefined) throw new UnauthorizedError('sign in with a hexproxy token as the password (any user name)');
  return c.redirect('/ui/packages', 303);
};
