#!/bin/sh
# usage-agent command: runs the agent with the Node runtime installed beside it.
# Without --config, commands read the installed configuration file.
: "${USAGE_AGENT_CONFIG:=@CONFIG@}"
export USAGE_AGENT_CONFIG
# The daemon (`run`) gets the V8 heap limits the service units use (src/service/node-flags.ts);
# short-lived commands (records, report, ...) keep node's defaults.
if [ "${1:-}" = run ]; then
  exec @NODE@ @AGENT_NODE_FLAGS@ @AGENT_JS@ "$@"
fi
exec @NODE@ @AGENT_JS@ "$@"
