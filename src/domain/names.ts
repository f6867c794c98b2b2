import { UserError } from '../errors.js';

/** Campaign, run-type and workflow names: letters, digits, `_`, `-`, `.`; starting with a letter or digit; ≤ 64. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const NAME_RULE = 'letters, digits, "_", "-" and "." (starting with a letter or digit, at most 64)';

export function checkName(kind: string, name: string): string {
  if (!NAME_RE.test(name)) {
    throw new UserError(`invalid ${kind} name '${name}': use ${NAME_RULE}`);
  }
  return name;
}
