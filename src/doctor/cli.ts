// The doctor's command line: checks a setup end to end without sending a mail, and says what to fix.
//   npm run doctor                      local.settings.json (Values) and the environment, the environment winning
//   npm run doctor -- --json            the same, as JSON for programs
//   npm run doctor -- --settings FILE   another settings file, e.g. one fetched from the Function App
//   npm run doctor -- --sandbox[=MODE]  against a local sandbox started for the purpose (default managedIdentity)
// Exit code 0 only when every check passed; 1 when one failed; 2 for a usage error.
// The local sandbox is passed in by whoever runs the command (sandbox/doctor.ts): the product does not import it.
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { AUTH_MODES, type AuthMode } from '../identity/auth-mode';
import { LOCAL_SETTINGS_FILE, readLocalSettings } from '../config/local-settings';
import { appDoctorDeps } from './defaults';
import { formatJson, formatText } from './format';
import { runChecks } from './run-checks';

/** A setup to check that was started for the check: its app settings, and how to stop it afterwards. */
export interface StartedSetup {
  env: Record<string, string | undefined>;
  stop(): Promise<void>;
}

/** Starts a local sandbox in the given auth mode, its storage provisioned, for `--sandbox`. */
export type StartSandbox = (mode: AuthMode) => Promise<StartedSetup>;

interface Options {
  json: boolean;
  settingsFile: string;
  sandbox?: AuthMode;
}

function parseArgs(args: string[]): Options {
  const options: Options = { json: false, settingsFile: LOCAL_SETTINGS_FILE };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--json') options.json = true;
    else if (arg === '--settings' && args[i + 1]) options.settingsFile = args[++i]!;
    else if (arg === '--sandbox' || arg.startsWith('--sandbox=')) {
      const mode = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : 'managedIdentity';
      if (!(AUTH_MODES as readonly string[]).includes(mode)) throw new UsageError(`--sandbox: one of ${AUTH_MODES.join(', ')}`);
      options.sandbox = mode as AuthMode;
    } else throw new UsageError(`unknown argument ${arg}`);
  }
  return options;
}

class UsageError extends Error {}

async function check(args: string[], startSandbox: StartSandbox): Promise<number> {
  const options = parseArgs(args);
  let started: StartedSetup | undefined;
  try {
    let env: Record<string, string | undefined>;
    let source: string;
    if (options.sandbox) {
      started = await startSandbox(options.sandbox);
      env = started.env;
      source = `a local sandbox started for this check (auth mode ${options.sandbox})`;
    } else {
      env = { ...readLocalSettings(options.settingsFile), ...process.env };
      const file = relative(process.cwd(), options.settingsFile) || options.settingsFile;
      source = existsSync(options.settingsFile)
        ? `${file} (Values) and the environment`
        : `the environment (no ${file}; --sandbox checks a local sandbox)`;
    }
    const found = await runChecks(appDoctorDeps(env));
    console.log(options.json ? formatJson(found, source) : `Checking the mail sender's setup from ${source}\n\n${formatText(found)}`);
    return found.ok ? 0 : 1;
  } finally {
    await started?.stop();
  }
}

/** Runs the command with these arguments and ends the process with its exit code. */
export function runDoctorCli(args: string[], startSandbox: StartSandbox): void {
  check(args, startSandbox).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof UsageError ? `doctor: ${error.message}` : error);
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
