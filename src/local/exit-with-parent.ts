// Preloaded (`node -r`) into the Azurite child process: ends it once the process that started it is gone, even when
// that process was killed outright and could not stop it. A stale Azurite would keep its ports, and the next run
// would fail to start or, worse, talk to old data.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();

export {}; // makes this file a module, so its names stay out of the global scope of the compilation
