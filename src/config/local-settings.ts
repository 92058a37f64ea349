// local.settings.json's Values, as Core Tools reads them into the environment; absent file: none.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_ROOT } from '../app-root';

export const LOCAL_SETTINGS_FILE = join(APP_ROOT, 'local.settings.json');

export function readLocalSettings(file = LOCAL_SETTINGS_FILE): Record<string, string> {
  if (!existsSync(file)) return {};
  return (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
}
