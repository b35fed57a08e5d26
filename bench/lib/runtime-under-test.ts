/** What a bench needs to start either runtime the same way. */
export interface RuntimeOptions {
  /** Directory of hosts.toml files (containerd's `config_path`), e.g. mapping a loopback registry to http. */
  certsDir: string;
  cniConfDir: string;
  cniBinDir: string;
  sandboxImage: string;
  /** Parent of the temp directory holding root, state, socket and log. Default /var/tmp. */
  parentDir?: string;
}

/** A runtime daemon started for one bench run, isolated from any system instance. */
export interface RunningRuntime {
  socket: string;
  /** The daemon's pid (for footprint measurements). */
  pid: number;
  /** `unix://` + socket, the form crictl and gRPC clients take. */
  endpoint: string;
  dir: string;
  logFile: string;
  /** Stop the daemon, kill the shims it left, unmount everything under its dir and delete it. */
  stop(): Promise<void>;
}
