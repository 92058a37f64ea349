// Preloaded (`node -r`) into the Azurite child process: ends it once the process that started it is gone, even when
// that process was killed outright and could not stop it. A stale Azurite would keep its ports, and the next run
// would fail to start or, worse, talk to old data.
import { watchParent } from './parent-watch';

watchParent(() => process.exit(0));
