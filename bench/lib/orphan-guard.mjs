// Preloaded (`node --import`) into every Tessera server the benchmark starts: if the benchmark process
// dies without stopping it (kill -9, OOM), the server notices its parent is gone and shuts down
// gracefully instead of lingering on its port. Tessera's own code is untouched.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 500).unref();
