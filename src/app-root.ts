// Where the app's own files are (package.json, host.json, templates/, local.settings.json): this file's dist/src/ is
// two levels below, in a deployed package as in the repository.
import { join } from 'node:path';

export const APP_ROOT = join(__dirname, '..', '..');
