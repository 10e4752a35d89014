/**
 * The V8 heap limits of the `usage-agent run` daemon: the ONE list that every service definition
 * passes to node (systemd ExecStart, launchd ProgramArguments, WinSW arguments, the `usage-agent`
 * shell launcher for `run`; all rendered from service/ templates as @AGENT_NODE_FLAGS@) and that
 * the replay benchmark runs its agent with (bench/replay.ts). See src/uplink/README.md, "Memory".
 *
 * - `--max-semi-space-size=2`: the young generation stays at most 3 x 2 MB. The daemon allocates
 *   steadily and little; by default V8 grows it to 3 x 16 MB under a burst (a replay, a storm of
 *   process starts) and keeps the pages.
 * - `--max-old-space-size=128`: a bound on the old generation. The daemon's live heap is ~10-20 MB
 *   (a 1M-record replay peaks at ~19 MB of heap: upload bodies are built by SQLite and live
 *   outside the heap); a low limit also makes V8 grow the heap in smaller steps. A leak ends in
 *   an out-of-memory exit, which the service manager restarts, instead of a daemon that takes
 *   more and more of a user's workstation. Upload buffers are not in this limit (external memory).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-old-space-size=128', '--max-semi-space-size=2'];
