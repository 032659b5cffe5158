/**
 * releasemon's help text, usage line and help colours, kept apart from the parser in
 * `config.ts`. Help strings are %-formatted as argparse did: write a literal percent sign as "%%".
 *
 * @module
 */
import { type ArgvTheme, PLAIN_THEME } from "./_argv_help.ts";
import { DEFAULT_SERVER_URL } from "./config_defaults.ts";

export const HELP_WIDTH = 80;

// superfsmon's flags first; the generated usage would list every flag on nine lines.
export const USAGE = `\
%(prog)s [-h] [--version] [-e FLAG | --disable [FLAG]] [-rd SECONDS]
                  [-fd SECONDS] [--running-only] [-pre COMMAND] [-post COMMAND]
                  [-g GROUP] [-a] [more options, see --help] PATH [PROG ...]`;

export const DESCRIPTION = `\
Watch one version file and, when its content changes, restart supervisord
programs over XML-RPC. Runs as a supervisord [program] and accepts superfsmon's
command line. A change is acted on once the file has settled (--settle), after
the optional delays (-fd, -rd), between the optional pre- and post-restart
commands (-pre, -post).`;

export const EPILOG = `\
hook environment (the version is passed only here, never inside COMMAND):
  RELEASEMON_HOOK (pre or post), RELEASEMON_VERSION, RELEASEMON_VERSION_HASH,
  RELEASEMON_PREVIOUS_VERSION, RELEASEMON_PREVIOUS_VERSION_HASH,
  RELEASEMON_VERSION_FILE, RELEASEMON_PROGRAMS; after restarting also
  RELEASEMON_OUTCOME, RELEASEMON_RESTARTED, RELEASEMON_FAILED,
  RELEASEMON_FAILED_REASONS, RELEASEMON_UNTOUCHED, RELEASEMON_RECREATED,
  RELEASEMON_ADDED, RELEASEMON_REMOVED, RELEASEMON_NOT_READY and
  RELEASEMON_REASON; hooks never see
  SUPERVISOR_PASSWORD or RELEASEMON_FLEET_PASSWORD

durations (SECONDS) are decimal numbers, at least 0.001 unless 0 is allowed

example supervisord.conf entry (supervisord also needs [rpcinterface:supervisor]
and a [unix_http_server] or [inet_http_server] section, as supervisorctl does):
  [program:releasemon]
  command=releasemon -e %(ENV_RELEASEMON_ENABLED)s -rd 30 /app/.version web
  autorestart=true`;

// Keyed by dest (argparse's name). %-formatted ("%(prog)s", "%(default)s"): write a literal percent sign as "%%".
export const HELP: Readonly<Record<string, string>> = {
  help: "show this help message and exit",
  version: "show releasemon's version and exit",
  enable: "act only if FLAG is true: 1/0, true/false, yes/no, on/off (default: act)",
  disable: "do nothing if FLAG is true or absent; while disabled releasemon waits for SIGTERM",
  random_delay: "wait a random 0 to SECONDS before restarting, after --fixed-delay; the two " +
    "together at most 2147483 (default: 0)",
  fixed_delay: "wait SECONDS before restarting (default: 0)",
  running_only: "restart only RUNNING programs, not STARTING ones (STOPPED and EXITED " +
    "programs are never started by a restart; FATAL and BACKOFF ones only with --revive)",
  rolling: "restart one program at a time (same as --batch-size 1)",
  batch_size: "rolling restart: restart N programs at a time, in namespec order, each batch " +
    "RUNNING before the next; on the first program that fails to start, halt and leave the " +
    "rest on the previous release (default: all at once)",
  start_timeout: "a restarted program not RUNNING SECONDS after its start was requested " +
    "counts as failed; make it longer than the programs' startsecs (default: 60)",
  no_catch_up: "at start-up, do not restart targets that were started before the current " +
    "version appeared (a release missed while releasemon was down)",
  revive: "also start targets in FATAL or BACKOFF (crashed by a broken release) on a new " +
    "version; STOPPED programs stay stopped",
  dry_run: "watch and decide as usual, but only log which programs would be restarted " +
    "and why; hooks are not run",
  update_config: "on a new version, first re-read supervisord's configuration and apply " +
    "changed, added and removed program definitions of the targets (each program restarted " +
    "exactly once); an invalid configuration restarts nothing",
  ready_check: "after a restarted, revived or added program is RUNNING, run COMMAND with " +
    "sh -c until it exits 0 (hook environment plus RELEASEMON_PROGRAM, RELEASEMON_PROGRAM_NAME, " +
    "RELEASEMON_PROGRAM_GROUP, RELEASEMON_PROGRAM_PID); the next batch waits for it",
  ready_url: "like --ready-check, with a built-in GET of URL: any 2xx is ready, redirects " +
    "are not followed; {name} and {group} are replaced (loopback only, unless compiled with --net)",
  ready_interval: "time between the starts of two readiness attempts (default: 0.5)",
  ready_timeout: "a program not ready SECONDS after it is RUNNING counts as failed, with the " +
    "last line the check printed or the HTTP status; it is left running (default: 60)",
  fleet: "coordinate restarts with the other hosts of the fleet through Redis at URL " +
    "(redis://host:port/db or rediss://; default: $RELEASEMON_FLEET_URL; the password only " +
    "from $RELEASEMON_FLEET_PASSWORD)",
  fleet_name: "the rollout group: hosts with the same NAME coordinate (default: releasemon)",
  fleet_id: "this host's name in the fleet (default: the host name)",
  fleet_max: "at most N hosts of the group restart at the same time (default: 1)",
  fleet_canary: "for each new version, the first N hosts restart first; the others wait " +
    "until those succeed (default: 0)",
  fleet_on_error: "when Redis is unreachable: wait (keep the version, retry) or proceed " +
    "(restart without coordination after --fleet-timeout) (default: wait)",
  fleet_timeout: "with --fleet-on-error proceed, how long Redis may be unreachable before " +
    "restarting uncoordinated (default: 60)",
  fleet_lease: "a fleet slot's lease; a host that dies holding one frees it after SECONDS, " +
    "1 or more (default: 30)",
  fleet_status: "print the rollout record of the group's latest version and exit " +
    "(JSON with --log-format json); PATH and PROG are not needed",
  fleet_resume: "clear the halt of the group's latest version and exit",
  configuration: "read the server URL, username and password from this supervisord.conf " +
    "([supervisorctl], else [unix_http_server] or [inet_http_server]; [include] followed)",
  pre_restart: "run COMMAND with sh -c before restarting (see hook environment below)",
  post_restart: "run COMMAND with sh -c after restarting; RELEASEMON_OUTCOME tells how it went",
  hook_timeout: "stop a hook running longer than SECONDS: SIGTERM to its process group, " +
    "SIGKILL 5 seconds later (default: 60)",
  path: "the version file to watch; a change of its content triggers a restart",
  program: "program to restart: name, group:name, or group:* for a whole group",
  group: "restart every program of GROUP (repeatable)",
  any: "restart every child of supervisord except releasemon itself",
  serverurl: "supervisord's URL, unix:///path or http://host:port (default: " +
    "$SUPERVISOR_SERVER_URL, which supervisord sets for its children, else " +
    `${DEFAULT_SERVER_URL})`,
  username: "user name for supervisord (default: $SUPERVISOR_USERNAME; supervisord does not " +
    "pass its credentials to its children: set them with environment= or use -c)",
  password_file: "read the password from FILE (default: $SUPERVISOR_PASSWORD; there is no " +
    "password flag)",
  rpc_timeout: "give up on a supervisord call after SECONDS (default: 10)",
  settle: "a burst of writes is read once the file has been quiet for SECONDS (0.01 to 5); " +
    "a single write is read at its close, a rename at once (default: 0.2)",
  recheck_interval: "also re-read the file every SECONDS in case an event was missed; 0 turns " +
    "this off (default: 10)",
  poll_interval: "do not watch for file events, only poll every SECONDS (default: watch)",
  log_level: "least severe log messages to show (default: info)",
  log_format: "log lines on stderr as text or JSON lines (default: text)",
};

// Our own colours for each part of the usage line and help (argparse's theme slots).
export const THEME: Readonly<ArgvTheme> = {
  usage: "\x1b[1m",
  prog: "\x1b[1m",
  prog_extra: "",
  heading: "\x1b[1m",
  long_option: "\x1b[1;36m",
  short_option: "\x1b[1;36m",
  label: "\x1b[1;33m",
  action: "\x1b[1;36m",
  reset: "\x1b[0m",
};
export const NO_THEME: Readonly<ArgvTheme> = PLAIN_THEME;
