/**
 * Calls `onOrphaned` once when this process's parent exits (it is re-parented to init or a subreaper).
 * `npm start` runs the server under `sh -c`; on SIGTERM npm 11 forwards the signal to that shell, which
 * dies without passing it on, and the server used to keep running with no parent. The start script now
 * `exec`s the server, and this is the net for every other wrapper (a shell script, a process manager)
 * that dies without forwarding. A process started by init (a container's PID 1 child) is left alone: only
 * a change of parent counts. Checked every `intervalMs` (default 1 s) on an unref'd timer.
 */
export function onParentExit(onOrphaned: () => void, intervalMs = 1000): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
