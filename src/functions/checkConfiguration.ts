import { app } from '@azure/functions';
import { sharedRuntime } from '../runtime';

// Read and check the configuration when the worker starts, so a bad setting shows up in the
// logs at once, naming the setting, instead of at the first message.
app.hook.appStart(() => {
  try {
    sharedRuntime();
  } catch (error) {
    console.error((error as Error).message);
  }
});
