/** Server URL when neither `-s` nor `SUPERVISOR_SERVER_URL` is set (Debian's socket path). */
export const DEFAULT_SERVER_URL = "unix:///var/run/supervisor.sock";
