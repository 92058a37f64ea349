// Template names come from the URL, so they are checked against an allow-list pattern before they name a file or a
// blob: 1-63 lowercase letters and digits in hyphen-separated words, nothing that could climb out of the templates
// folder or the container (no dot, slash, backslash or percent sign).
export const TEMPLATE_NAME = /^(?=.{1,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;

export function isTemplateName(name: string | undefined | null): name is string {
  return typeof name === 'string' && TEMPLATE_NAME.test(name);
}
