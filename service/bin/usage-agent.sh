#!/bin/sh
# usage-agent command: runs the agent with the Node runtime installed beside it.
# Without --config, commands read the installed configuration file.
: "${USAGE_AGENT_CONFIG:=@CONFIG@}"
export USAGE_AGENT_CONFIG
exec @NODE@ @AGENT_JS@ "$@"
