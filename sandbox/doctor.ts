// `npm run doctor`: the doctor's command line (src/doctor/cli.ts), given a local stack to start for `--sandbox`.
import { runDoctorCli } from '../src/doctor/cli';
import { loadConfig } from '../src/config/load-config';
import { createStorageClients } from '../src/storage/clients';
import { provisionStorage } from '../src/storage/provision';
import { startLocalStack } from './stack';

runDoctorCli(process.argv.slice(2), async (mode) => {
  const stack = await startLocalStack();
  try {
    const env = stack.settings(mode);
    // @azure/identity finds the managed identity endpoint in the environment, as on Azure.
    Object.assign(process.env, stack.managedIdentity.env);
    const config = loadConfig(env);
    await provisionStorage(config, createStorageClients(config.storage));
    return { env, stop: () => stack.stop() };
  } catch (error) {
    await stack.stop();
    throw error;
  }
});
